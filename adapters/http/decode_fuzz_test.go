package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/domain"
)

// Fuzz targets for every command's body, through the path the handlers take:
// parseJSONObject (what readJSONObject does once the body is read), then the
// command's decoder. Properties: nothing panics; a refused body is
// malformed-json (only for invalid JSON, invalid UTF-8, a non-object or a
// duplicate key) or a validation problem naming the command's fields; an
// accepted body decodes to a command that encodes back to itself. Without
// -fuzz the seeds run as plain tests; scripts/fuzz.sh fuzzes each for a
// bounded time.

// hostileBodies seed every target: the shapes the hostile-input test sends.
func hostileBodies() []string {
	return []string{
		``, `null`, `[]`, `[{}]`, `"x"`, `1`, `{`, `{}`, `{} {}`, `{"a":1}x`,
		`{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, `{"a":[{"b":1,"b":2}]}`,
		"{\"a\":\"\xff\"}", `{"a":"\ud800"}`, "{\"a\":\"\x00\"}", `{"a":"\u0000"}`,
		`{"a":1e309}`, `{"a":-0}`, `{"a":1e3}`, `{"a":99999999999999999999999}`,
		strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200),
		strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500),
	}
}

// parseFuzzBody parses body as readJSONObject does; ok is false when it was
// refused, which must be malformed-json for a reason the body shows.
func parseFuzzBody(t *testing.T, body []byte) (jsonObject, bool) {
	t.Helper()
	obj, err := parseJSONObject(body)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) || re.kind != kindMalformedJSON {
			t.Fatalf("refused with %T %v, want malformed-json", err, err)
		}
		trimmed := bytes.TrimSpace(body)
		// A well-formed object of valid UTF-8 is refused only for a duplicate
		// key, deep nesting or half a surrogate pair.
		if utf8.Valid(body) && json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{' &&
			!strings.Contains(re.detail, "more than once") && !strings.Contains(re.detail, "deeper than") && !strings.Contains(re.detail, "surrogate") {
			t.Fatalf("refused a well-formed object: %s", re.detail)
		}
		return nil, false
	}
	if !json.Valid(body) || !utf8.Valid(body) {
		t.Fatalf("accepted a body that is not valid JSON: %q", body)
	}
	// What was accepted decodes without loss: no member holds U+FFFD that
	// the body did not spell.
	if !bytes.Contains(body, []byte("\ufffd")) && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.ContainsRune(body, utf8.RuneError) {
		for k, v := range obj {
			var x any
			if json.Unmarshal(v, &x) == nil && strings.ContainsRune(fmt.Sprint(x), utf8.RuneError) || strings.ContainsRune(k, utf8.RuneError) {
				t.Fatalf("member %q decodes with U+FFFD the body does not hold", k)
			}
		}
	}
	return obj, true
}

// checkRefusal fails unless err is a validation problem naming only fields
// that allowed accepts.
func checkRefusal(t *testing.T, err error, allowed func(field string) bool) {
	t.Helper()
	var v *domain.ValidationError
	if !errors.As(err, &v) || len(v.Fields) == 0 {
		t.Fatalf("refused with %T %v, want a validation error with fields", err, err)
	}
	if p := problemFor(err); p.Status != http.StatusBadRequest || p.Type != problemTypeBase+string(kindValidation) {
		t.Fatalf("answered %d %s, want 400 validation", p.Status, p.Type)
	}
	for _, f := range v.Fields {
		if !allowed(f.Field) || f.Message == "" {
			t.Fatalf("failing field %q (%q) is not one of the command's", f.Field, f.Message)
		}
	}
}

func fieldsIn(names ...string) func(string) bool {
	return func(f string) bool { return slices.Contains(names, f) }
}

// reparse encodes v as JSON and parses it back into an object.
func reparse(t *testing.T, v any) jsonObject {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := parseJSONObject(b)
	if err != nil {
		t.Fatalf("the encoding of an accepted command is refused: %v (%s)", err, b)
	}
	return obj
}

func addSeeds(f *testing.F, valid ...string) {
	for _, s := range append(valid, hostileBodies()...) {
		f.Add([]byte(s))
	}
}

func FuzzDecodeCreateProduct(f *testing.F) {
	addSeeds(f,
		`{"sku":"MUG-1","name":"Mug","description":"d","priceCents":1250,"currency":"EUR","initialStock":5}`,
		`{"sku":"MUG-1","name":"Mug","priceCents":0,"currency":"EUR"}`,
		`{"sku":1,"name":null,"description":["x"],"priceCents":"12","currency":"EUR","initialStock":1.5}`,
		`{"sku":"a","name":"b","priceCents":9223372036854775808,"currency":"EUR","initialStock":-0}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeCreateProduct(obj)
		if err != nil {
			checkRefusal(t, err, fieldsIn("sku", "name", "description", "priceCents", "currency", "initialStock"))
			return
		}
		again, err := decodeCreateProduct(reparse(t, map[string]any{
			"sku": cmd.SKU, "name": cmd.Name, "description": cmd.Description,
			"priceCents": cmd.PriceCents, "currency": cmd.Currency, "initialStock": cmd.InitialStock,
		}))
		if err != nil || again != cmd {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
		// The use case validates next: it may refuse, but only with a
		// validation error.
		if _, err := domain.CreateProduct("p", cmd.SKU, cmd.Name, cmd.Description, cmd.PriceCents, cmd.Currency, cmd.InitialStock); err != nil {
			checkRefusal(t, err, fieldsIn("sku", "name", "description", "priceCents", "currency", "initialStock"))
		}
	})
}

func FuzzDecodeChangeProductDetails(f *testing.F) {
	addSeeds(f, `{"name":"New"}`, `{"description":""}`, `{"name":null}`, `{"name":"a","description":7}`, `{"name":"\u0007"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeChangeProductDetails(someID, newFieldReader(obj))
		if err != nil {
			checkRefusal(t, err, fieldsIn("name", "description"))
			return
		}
		_, hasName := obj["name"]
		_, hasDescription := obj["description"]
		if cmd.ProductID != someID || (cmd.Name != nil) != hasName || (cmd.Description != nil) != hasDescription {
			t.Fatalf("command %+v from %s", cmd, body)
		}
		m := map[string]any{}
		if cmd.Name != nil {
			m["name"] = *cmd.Name
		}
		if cmd.Description != nil {
			m["description"] = *cmd.Description
		}
		again, err := decodeChangeProductDetails(someID, newFieldReader(reparse(t, m)))
		if err != nil || !cmp.Equal(again, cmd) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
	})
}

func FuzzDecodeChangeProductPrice(f *testing.F) {
	addSeeds(f, `{"priceCents":1250}`, `{"priceCents":-1}`, `{"priceCents":1.5}`, `{"priceCents":"1"}`, `{"priceCents":1e309}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeChangeProductPrice(someID, newFieldReader(obj))
		if err != nil {
			checkRefusal(t, err, fieldsIn("priceCents"))
			return
		}
		again, err := decodeChangeProductPrice(someID, newFieldReader(reparse(t, map[string]any{"priceCents": cmd.PriceCents})))
		if err != nil || again != cmd || cmd.ProductID != someID {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
	})
}

func FuzzDecodeRestockProduct(f *testing.F) {
	addSeeds(f, `{"quantity":5}`, `{"quantity":0}`, `{"quantity":9223372036854775807}`, `{"quantity":-9223372036854775809}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeRestockProduct(someID, newFieldReader(obj))
		if err != nil {
			checkRefusal(t, err, fieldsIn("quantity"))
			return
		}
		again, err := decodeRestockProduct(someID, newFieldReader(reparse(t, map[string]any{"quantity": cmd.Quantity})))
		if err != nil || again != cmd || cmd.ProductID != someID {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
	})
}

func FuzzDecodeRegisterCustomer(f *testing.F) {
	addSeeds(f, `{"email":"ada@example.com","name":"Ada"}`, `{"email":"Ada <ada@example.com>","name":""}`, `{"email":null}`, `{"email":["a"],"name":{}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeRegisterCustomer(obj)
		if err != nil {
			checkRefusal(t, err, fieldsIn("email", "name"))
			return
		}
		again, err := decodeRegisterCustomer(reparse(t, map[string]any{"email": cmd.Email, "name": cmd.Name}))
		if err != nil || again != cmd {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
		if _, err := domain.RegisterCustomer("c", cmd.Email, cmd.Name); err != nil {
			checkRefusal(t, err, fieldsIn("email", "name"))
		}
	})
}

func FuzzDecodeUpdateCustomer(f *testing.F) {
	addSeeds(f, `{"email":"new@example.com"}`, `{"name":"Ada"}`, `{"email":"@","name":" "}`, `{"name":null}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodeUpdateCustomer(someID, newFieldReader(obj))
		if err != nil {
			checkRefusal(t, err, fieldsIn("email", "name"))
			return
		}
		m := map[string]any{}
		if cmd.Email != nil {
			m["email"] = *cmd.Email
		}
		if cmd.Name != nil {
			m["name"] = *cmd.Name
		}
		again, err := decodeUpdateCustomer(someID, newFieldReader(reparse(t, m)))
		if err != nil || !cmp.Equal(again, cmd) || cmd.CustomerID != someID {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
	})
}

func FuzzDecodePlaceOrder(f *testing.F) {
	line := `{"productId":"` + someID + `","quantity":2}`
	addSeeds(f,
		`{"customerId":"`+someID+`","lines":[`+line+`]}`,
		`{"customerId":"`+strings.ToUpper(someID)+`","lines":[`+line+`,`+line+`]}`,
		`{"customerId":"x","lines":[null,1,"a",[],{"productId":7,"quantity":1.5}]}`,
		`{"customerId":"`+someID+`","lines":{}}`,
		`{"customerId":"`+someID+`","lines":[`+strings.Repeat(line+`,`, 100)+line+`]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseFuzzBody(t, body)
		if !ok {
			return
		}
		cmd, err := decodePlaceOrder(obj)
		if err != nil {
			checkRefusal(t, err, func(field string) bool {
				return field == "customerId" || field == "lines" || strings.HasPrefix(field, "lines[")
			})
			return
		}
		if id, ok := canonicalUUID(cmd.CustomerID); !ok || id != cmd.CustomerID {
			t.Fatalf("customer id %q is not canonical", cmd.CustomerID)
		}
		lines := make([]map[string]any, len(cmd.Lines))
		for i, l := range cmd.Lines {
			if id, ok := canonicalUUID(l.ProductID); !ok || id != l.ProductID {
				t.Fatalf("line %d product id %q is not canonical", i, l.ProductID)
			}
			lines[i] = map[string]any{"productId": l.ProductID, "quantity": l.Quantity}
		}
		again, err := decodePlaceOrder(reparse(t, map[string]any{"customerId": cmd.CustomerID, "lines": lines}))
		if err != nil || !cmp.Equal(again, cmd) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, cmd)
		}
		if err := domain.CheckLines(cmd.Lines); err != nil {
			checkRefusal(t, err, func(field string) bool { return field == "lines" || strings.HasPrefix(field, "lines[") })
		}
	})
}

// The list's query parameters: anything a client puts in a query string
// either lists a page within the limits or is a validation problem.
func FuzzDecodeListProducts(f *testing.F) {
	for _, q := range []string{"", "page=2&pageSize=100", "page=0", "pageSize=101", "page=-0", "page=+1", "page=1e3",
		"page=99999999999999999999", "page=1&page=2", "search=%00", "search=%ff", "search=mug%20blue", "pageSize=", "search"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // Echo reads what it can; the parameters that parse are what count
		}
		q, err := decodeListProducts(query)
		if err != nil {
			checkRefusal(t, err, fieldsIn("page", "pageSize", "search"))
			return
		}
		if q.Page < 0 || q.Page > maxPage || q.PageSize < 0 || q.PageSize > 100 || !utf8.ValidString(q.Search) || strings.ContainsRune(q.Search, 0) {
			t.Fatalf("accepted %+v from %q", q, rawQuery)
		}
	})
}
