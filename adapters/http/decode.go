package http

// One concept, request decoding: the transport checks and the field reader
// that gathers every field's problem. Its length is the per-type readers,
// which must all report problems the same way, so they stay together.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
)

// Request bodies are read in two steps. readJSONObject checks the transport:
// media type, size, well-formed JSON with no duplicate keys and nothing after
// the value, an object at the top. A fieldReader then reads each member on its
// own, so that every missing, null or mistyped field lands in one validation
// problem instead of the first one stopping the decoder.

// jsonObject is a JSON object split into its members, still encoded.
type jsonObject map[string]json.RawMessage

// readJSONObject reads the request body as one JSON object.
func (s *Server) readJSONObject(c echo.Context) (jsonObject, error) {
	req := c.Request()
	if err := checkJSONContentType(req.Header.Get(echo.HeaderContentType)); err != nil {
		return nil, err
	}
	if req.ContentLength > s.bodyLimit {
		return nil, s.tooLarge()
	}
	// One byte past the limit tells a body at the limit from a larger one.
	body, err := io.ReadAll(io.LimitReader(req.Body, s.bodyLimit+1))
	if err != nil {
		var maxBytes *http.MaxBytesError
		var echoErr *echo.HTTPError
		if errors.As(err, &maxBytes) || errors.As(err, &echoErr) {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		return nil, &requestError{kindMalformedJSON, "The request body could not be read."}
	}
	if int64(len(body)) > s.bodyLimit {
		return nil, s.tooLarge()
	}
	return parseJSONObject(body)
}

func (s *Server) tooLarge() error {
	return &requestError{kindPayloadTooLarge, fmt.Sprintf("The request body exceeds %d bytes.", s.bodyLimit)}
}

// checkJSONContentType accepts application/json with any parameters, except
// a charset other than UTF-8, the only encoding JSON allows (RFC 8259).
func checkJSONContentType(header string) error {
	unsupported := &requestError{kindUnsupportedMediaType, "Send the body as application/json."}
	if header == "" {
		return unsupported
	}
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != echo.MIMEApplicationJSON {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported
	}
	return nil
}

// parseJSONObject checks that body is exactly one well-formed JSON object and
// splits it into members.
func parseJSONObject(body []byte) (jsonObject, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &requestError{kindMalformedJSON, "The request body is empty; send a JSON object."}
	}
	// encoding/json would silently replace invalid bytes with U+FFFD.
	if !utf8.Valid(body) {
		return nil, &requestError{kindMalformedJSON, "The request body is not valid UTF-8."}
	}
	if err := checkWellFormed(body); err != nil {
		return nil, err
	}
	if err := checkSurrogates(body); err != nil {
		return nil, err
	}
	if trimmed[0] != '{' {
		return nil, &requestError{kindMalformedJSON, "The request body must be a JSON object."}
	}
	var obj jsonObject
	if err := json.Unmarshal(body, &obj); err != nil {
		// checkWellFormed accepted it, so this is not the client's mistake.
		return nil, fmt.Errorf("split JSON object: %w", err)
	}
	return obj, nil
}

// jsonFrame is one open object or array while checkWellFormed walks a value.
type jsonFrame struct {
	object  bool
	wantKey bool // in an object: the next token is a key or the closing brace
	keys    map[string]bool
}

// maxJSONDepth bounds how deeply a body's arrays and objects nest. No
// command needs more than three levels; encoding/json refuses more than
// 10,000, which would otherwise surface as an internal error.
const maxJSONDepth = 64

// checkWellFormed walks the tokens of body: it rejects syntax errors, a key
// that appears twice in one object (json.Unmarshal would keep the last one,
// so a client could not tell which value counted), nesting deeper than
// maxJSONDepth and anything after the first value. The walk keeps a stack
// instead of recursing.
func checkWellFormed(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				if stack[n-1].keys[key] {
					return &requestError{kindMalformedJSON, fmt.Sprintf("The key %q appears more than once in one object.", key)}
				}
				stack[n-1].keys[key] = true
				stack[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return &requestError{kindMalformedJSON, fmt.Sprintf("The request body nests arrays and objects deeper than %d levels.", maxJSONDepth)}
			}
			frame := jsonFrame{}
			if tok == json.Delim('{') {
				frame = jsonFrame{object: true, wantKey: true, keys: map[string]bool{}}
			}
			stack = append(stack, frame)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value just ended: the enclosing object wants its next key, or
		// the document is complete and only whitespace may follow.
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			}
			continue
		}
		if _, err := dec.Token(); err != io.EOF {
			return &requestError{kindMalformedJSON, "The request body has data after the JSON value."}
		}
		return nil
	}
}

// checkSurrogates refuses a \u escape of half a UTF-16 surrogate pair
// without its other half: encoding/json would silently decode it as U+FFFD,
// as it would invalid UTF-8. body is well-formed JSON, where a backslash
// occurs only inside strings, always starting an escape.
func checkSurrogates(body []byte) error {
	lone := &requestError{kindMalformedJSON, "The request body has a \\u escape of half a surrogate pair; send the character as UTF-8 or both halves."}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if body[i] != 'u' {
			continue
		}
		r := hexRune(body[i+1 : i+5])
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return lone
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
				return lone
			}
			if low := hexRune(body[i+3 : i+7]); low < 0xDC00 || low > 0xDFFF {
				return lone
			}
			i += 6
		}
	}
	return nil
}

// hexRune reads four hex digits, which a well-formed \u escape has.
func hexRune(b []byte) rune {
	n, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(n)
}

// malformed turns a decoder error into a client-facing problem; the syntax
// error's offset helps a client find the mistake.
func malformed(err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return &requestError{kindMalformedJSON, fmt.Sprintf("The request body is not valid JSON: %s (at byte %d).", syntax.Error(), syntax.Offset)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{kindMalformedJSON, "The request body ends before the JSON value does."}
	default:
		return &requestError{kindMalformedJSON, "The request body is not valid JSON."}
	}
}

// Messages of field failures found while decoding; the domain adds its own
// for values of the right type that break a rule.
const (
	msgRequired  = "is required"
	msgNotNull   = "must not be null"
	msgString    = "must be a string"
	msgInteger   = "must be an integer"
	msgIntRange  = "is out of range"
	msgArray     = "must be an array"
	msgObject    = "must be an object"
	msgUUID      = "must be a UUID such as 0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e"
	msgGivenOnce = "must be given once"
)

// fieldReader reads the members of one JSON object and records a
// FieldError for each that is missing, null or of the wrong JSON type.
// Readers of nested objects share the parent's errors.
type fieldReader struct {
	obj    jsonObject
	prefix string // field-name prefix of a nested object, such as "lines[2]."
	errs   *domain.ValidationError
}

func newFieldReader(obj jsonObject) fieldReader {
	return fieldReader{obj: obj, errs: &domain.ValidationError{}}
}

func (f fieldReader) fail(name, message string) {
	f.errs.Fields = append(f.errs.Fields, domain.FieldError{Field: f.prefix + name, Message: message})
}

// failed reports whether any field failed so far.
func (f fieldReader) failed() bool { return len(f.errs.Fields) > 0 }

// member returns the member's encoding when it is present and not null; a
// missing required member or any null member is recorded as a failure.
func (f fieldReader) member(name string, required bool) (json.RawMessage, bool) {
	raw, ok := f.obj[name]
	switch {
	case !ok:
		if required {
			f.fail(name, msgRequired)
		}
		return nil, false
	case bytes.Equal(raw, []byte("null")):
		f.fail(name, msgNotNull)
		return nil, false
	}
	return raw, true
}

// requiredString reads a required string member.
func (f fieldReader) requiredString(name string) string {
	raw, ok := f.member(name, true)
	if !ok {
		return ""
	}
	s, _ := f.decodeString(name, raw)
	return s
}

// optionalString reads a string member that may be absent (nil) but not null.
func (f fieldReader) optionalString(name string) *string {
	raw, ok := f.member(name, false)
	if !ok {
		return nil
	}
	s, ok := f.decodeString(name, raw)
	if !ok {
		return nil
	}
	return &s
}

func (f fieldReader) decodeString(name string, raw json.RawMessage) (string, bool) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		f.fail(name, msgString)
		return "", false
	}
	return s, true
}

// requiredInt reads a required integer member.
func (f fieldReader) requiredInt(name string) int64 {
	raw, ok := f.member(name, true)
	if !ok {
		return 0
	}
	return f.decodeInt(name, raw)
}

// optionalInt reads an integer member that may be absent (def) but not null.
func (f fieldReader) optionalInt(name string, def int64) int64 {
	raw, ok := f.member(name, false)
	if !ok {
		return def
	}
	return f.decodeInt(name, raw)
}

// decodeInt accepts only JSON integers that fit int64: "12", 1.5, 1.0 and
// 1e3 are not integers in the API's sense, and a float64 detour would
// silently round large values. Nor is -0: it comes from floating-point
// arithmetic gone wrong, as the query parameters' rules also say.
func (f fieldReader) decodeInt(name string, raw json.RawMessage) int64 {
	s := string(raw)
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || s == "-0" {
		f.fail(name, msgInteger)
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.fail(name, msgIntRange)
		return 0
	}
	return n
}

// requiredUUID reads a required UUID string member, returned in canonical form.
func (f fieldReader) requiredUUID(name string) string {
	raw, ok := f.member(name, true)
	if !ok {
		return ""
	}
	s, ok := f.decodeString(name, raw)
	if !ok {
		return ""
	}
	id, ok := canonicalUUID(s)
	if !ok {
		f.fail(name, msgUUID)
	}
	return id
}

// requiredArray reads a required array member, its elements still encoded.
func (f fieldReader) requiredArray(name string) []json.RawMessage {
	raw, ok := f.member(name, true)
	if !ok {
		return nil
	}
	var elems []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		f.fail(name, msgArray)
		return nil
	}
	return elems
}

// object returns a reader of a nested object named name (such as
// "lines[2]"), or false after recording that it is not an object.
func (f fieldReader) object(name string, raw json.RawMessage) (fieldReader, bool) {
	var obj jsonObject
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		if bytes.Equal(raw, []byte("null")) {
			f.fail(name, msgNotNull)
		} else {
			f.fail(name, msgObject)
		}
		return fieldReader{}, false
	}
	return fieldReader{obj: obj, prefix: f.prefix + name + ".", errs: f.errs}, true
}

// err returns nil when every field decoded. Otherwise it returns the
// failures, joined by rules's failures on the fields that decoded fine:
// callers pass what the domain's rules say about the decoded values, so that
// one response lists every failing field.
func (f fieldReader) err(rules error) error {
	if !f.failed() {
		return nil
	}
	var broken *domain.ValidationError
	if errors.As(rules, &broken) {
		decoded := f.errs.Fields
		for _, r := range broken.Fields {
			if !coveredBy(r.Field, decoded) {
				f.errs.Fields = append(f.errs.Fields, r)
			}
		}
	}
	return f.errs
}

// coveredBy reports whether field, or an object or array holding it, already
// failed: a rule's complaint about the zero value standing in for a field
// that did not decode would only mislead.
func coveredBy(field string, failed []domain.FieldError) bool {
	for _, fe := range failed {
		if field == fe.Field || strings.HasPrefix(field, fe.Field+".") || strings.HasPrefix(field, fe.Field+"[") {
			return true
		}
	}
	return false
}

// canonicalUUID accepts a UUID in the hyphenated 36-character form, in
// either case, and returns it in lower case; the braced, URN and bare-hex
// forms uuid.Parse also takes are not ids of this API.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return id.String(), true
}

// pathID reads the path parameter "id" as a UUID.
func pathID(c echo.Context) (string, error) {
	id, ok := canonicalUUID(c.Param("id"))
	if !ok {
		return "", &domain.ValidationError{Fields: []domain.FieldError{{Field: "id", Message: msgUUID}}}
	}
	return id, nil
}

// readResourceBody reads what a mutation of one resource needs: the id in
// the path, checked first, then the JSON body's fields.
func (s *Server) readResourceBody(c echo.Context) (string, fieldReader, error) {
	id, err := pathID(c)
	if err != nil {
		return "", fieldReader{}, err
	}
	obj, err := s.readJSONObject(c)
	if err != nil {
		return "", fieldReader{}, err
	}
	return id, newFieldReader(obj), nil
}
