package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// fieldKind is what a body member holds; it decides which hostile values are
// in fact acceptable for the member.
type fieldKind int

const (
	kindSKU       fieldKind = iota
	kindText                // one line of text: a name
	kindMultiline           // text that may be blank or break lines: a description
	kindCurrency
	kindEmail
	kindInteger
	kindUUID
	kindLines
)

// hostileValue is a JSON value sent as one member of an otherwise valid body.
type hostileValue struct {
	name, value string
	// field is the field the validation problem must name, when it is not
	// the member itself (a member of an order line).
	field string
	// acceptedBy are the kinds of member for which the value is valid: it
	// is sent to them as data that must be stored as it came.
	acceptedBy []fieldKind
}

// member is one member of a route's body. valid returns a valid value for
// the n-th body sent: members that must be unique (a SKU, an e-mail) get a
// fresh one in every body, so that a hostile value let through would change
// something instead of being refused as a duplicate.
type member struct {
	name     string
	kind     fieldKind
	required bool
	valid    func(n int) string
	// extra are hostile values for this member alone, beyond those every
	// member is sent.
	extra []hostileValue
}

// hostileRoute is a mutating route with a JSON body.
type hostileRoute struct {
	method, path string
	members      []member
}

// body encodes the n-th body of r: every member valid, except that field's
// value is value when field is not "".
func (r hostileRoute) body(n int, field, value string) string {
	parts := make([]string, len(r.members))
	for i, m := range r.members {
		v := m.valid(n)
		if m.name == field {
			v = value
		}
		parts[i] = fmt.Sprintf("%q:%s", m.name, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (r hostileRoute) required() []string {
	var names []string
	for _, m := range r.members {
		if m.required {
			names = append(names, m.name)
		}
	}
	return names
}

// fixed is a member value that need not be unique.
func fixed(v string) func(int) string { return func(int) string { return v } }

// jsonString encodes s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestHostileInputChangesNothing sends hostile input to every mutating route
// and to the path and query parameters of the GET routes: huge and
// overflowing numbers, floats where integers belong, unicode and control
// characters, NUL bytes, invalid UTF-8, nulls, duplicate keys, deep nesting,
// arrays where objects belong, a 10 MB body and wrong content types. A
// hostile member is the only thing wrong with its body, so the validation
// problem must name exactly that member. Every answer is a 4xx problem that
// leaks nothing, and the database holds exactly what it held before
// (databaseState, badinput_test.go). Hostile-looking values a member accepts
// (SQL in a name, a blank description) are then stored and read back as sent.
func TestHostileInputChangesNothing(t *testing.T) {
	a := newAPI(t)
	product := a.createProduct("HOSTILE-1", 500, 10, "EUR")["id"].(string)
	customer := a.registerCustomer("hostile@example.com")["id"].(string)
	placed := a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 1))
	expect(t, placed, http.StatusCreated)
	order := placed.json(t)["id"].(string)

	line := func(productID, quantity string) string {
		return `{"productId":` + productID + `,"quantity":` + quantity + `}`
	}
	p := jsonString(product)
	var tooMany []string
	for range 101 {
		tooMany = append(tooMany, line(p, "1"))
	}
	var (
		skuValues = []hostileValue{
			{name: "empty", value: `""`},
			{name: "space inside", value: `"A B"`},
			{name: "non-ASCII letter", value: `"É-1"`},
			{name: "65 characters", value: jsonString(strings.Repeat("A", 65))},
			{name: "slash", value: `"A/1"`},
		}
		nameValues = []hostileValue{
			{name: "empty", value: `""`},
			{name: "201 characters", value: jsonString(strings.Repeat("n", 201))},
			{name: "tab", value: `"a\tb"`},
			{name: "line break", value: `"a\nb"`},
			{name: "DEL", value: `"a\u007fb"`},
		}
		descriptionValues = []hostileValue{
			{name: "2001 characters", value: jsonString(strings.Repeat("d", 2001))},
			{name: "DEL", value: `"a\u007fb"`},
			{name: "C1 control", value: `"a\u0085b"`},
		}
		currencyValues = []hostileValue{
			{name: "empty", value: `""`},
			{name: "lower case", value: `"eur"`},
			{name: "not ISO 4217", value: `"XXX"`},
			{name: "four letters", value: `"EURO"`},
			{name: "leading space", value: `" EUR"`},
		}
		emailValues = []hostileValue{
			{name: "empty", value: `""`},
			{name: "no @", value: `"ada.example.com"`},
			{name: "no domain", value: `"ada@"`},
			{name: "display name", value: `"Ada <ada@example.com>"`},
			{name: "trailing space", value: `"ada@example.com "`},
			{name: "255 characters", value: jsonString(strings.Repeat("a", 243) + "@example.com")},
		}
		priceValues = []hostileValue{
			{name: "negative", value: `-1`},
			{name: "above 10^12", value: `1000000000001`},
			{name: "numeric string", value: `"100"`},
		}
	)
	unique := func(format string) func(int) string {
		return func(n int) string { return jsonString(fmt.Sprintf(format, n)) }
	}
	routes := []hostileRoute{
		{"POST", "/api/v1/products", []member{
			{"sku", kindSKU, true, unique("HOSTILE-N%d"), skuValues},
			{"name", kindText, true, fixed(`"n"`), nameValues},
			{"description", kindMultiline, false, fixed(`"d"`), descriptionValues},
			{"priceCents", kindInteger, true, fixed(`1`), priceValues},
			{"currency", kindCurrency, true, fixed(`"EUR"`), currencyValues},
			{"initialStock", kindInteger, false, fixed(`1`), []hostileValue{
				{name: "negative", value: `-1`},
				{name: "above 10^12", value: `1000000000001`},
			}},
		}},
		{"PATCH", "/api/v1/products/" + product, []member{
			{"name", kindText, false, unique("n%d"), nameValues},
			{"description", kindMultiline, false, unique("d%d"), descriptionValues},
		}},
		{"PUT", "/api/v1/products/" + product + "/price", []member{
			{"priceCents", kindInteger, true, func(n int) string { return fmt.Sprint(600 + n) }, priceValues},
		}},
		{"POST", "/api/v1/products/" + product + "/stock", []member{
			{"quantity", kindInteger, true, fixed(`5`), []hostileValue{
				{name: "zero", value: `0`},
				{name: "negative", value: `-1`},
				{name: "above 10^12", value: `1000000000001`},
				{name: "stock past 10^12", value: `1000000000000`},
			}},
		}},
		{"POST", "/api/v1/customers", []member{
			{"email", kindEmail, true, unique("hostile-new-%d@example.com"), emailValues},
			{"name", kindText, true, fixed(`"Bob"`), nameValues},
		}},
		{"PATCH", "/api/v1/customers/" + customer, []member{
			{"email", kindEmail, false, unique("hostile-%d@example.com"), emailValues},
			{"name", kindText, false, unique("Bob %d"), nameValues},
		}},
		{"POST", "/api/v1/orders", []member{
			{"customerId", kindUUID, true, fixed(jsonString(customer)), []hostileValue{
				{name: "not a UUID", value: `"x"`},
				{name: "UUID in braces", value: jsonString("{" + customer + "}")},
				{name: "URN", value: jsonString("urn:uuid:" + customer)},
				{name: "35 characters", value: jsonString(customer[:35])},
			}},
			{"lines", kindLines, true, fixed("[" + line(p, "1") + "]"), []hostileValue{
				{name: "no lines", value: `[]`, field: "lines"},
				{name: "101 lines", value: "[" + strings.Join(tooMany, ",") + "]", field: "lines"},
				{name: "null line", value: `[null]`, field: "lines[0]"},
				{name: "line is a string", value: `["x"]`, field: "lines[0]"},
				{name: "zero quantity", value: "[" + line(p, "0") + "]", field: "lines[0].quantity"},
				{name: "quantity over 10,000", value: "[" + line(p, "10001") + "]", field: "lines[0].quantity"},
				{name: "fractional quantity", value: "[" + line(p, "1.5") + "]", field: "lines[0].quantity"},
				{name: "quantity missing", value: `[{"productId":` + p + `}]`, field: "lines[0].quantity"},
				{name: "malformed productId", value: "[" + line(`"x"`, "1") + "]", field: "lines[0].productId"},
				{name: "productId missing", value: `[{"quantity":1}]`, field: "lines[0].productId"},
				{name: "same product twice", value: "[" + line(p, "1") + "," + line(p, "1") + "]", field: "lines[1].productId"},
			}},
		}},
	}

	// Values sent to every member.
	text := []fieldKind{kindText, kindMultiline}
	hostileValues := []hostileValue{
		{name: "null", value: `null`},
		{name: "past int64", value: `92233720368547758070`},
		{name: "int64 max", value: `9223372036854775807`},
		{name: "int64 min", value: `-9223372036854775808`},
		{name: "1e309", value: `1e309`},
		{name: "-0", value: `-0`},
		{name: "1e3 as float", value: `1e3`},
		{name: "fraction", value: `0.5`},
		{name: "boolean", value: `true`},
		{name: "array", value: `["x"]`},
		{name: "object", value: `{"x":1}`},
		{name: "NUL escape", value: `"\u0000"`},
		{name: "control characters", value: `"\u0007\u001b[31m"`},
		{name: "only spaces", value: `"   "`, acceptedBy: []fieldKind{kindMultiline}},
		{name: "right-to-left override and emoji", value: `"\u202e😀 ü ḿ"`, acceptedBy: text},
		{name: "fullwidth digits", value: `"１２３"`, acceptedBy: text},
		{name: "SQL", value: `"x'); DROP TABLE events; --"`, acceptedBy: text},
		{name: "10k characters", value: `"` + strings.Repeat("é", 10_000) + `"`},
	}
	// Bodies that are wrong as a whole.
	hostileBodies := []struct{ name, body, kind string }{
		{"empty object", `{}`, "validation"},
		{"null", `null`, "malformed-json"},
		{"array of the valid object", "[VALID]", "malformed-json"},
		{"string", `"VALID"`, "malformed-json"},
		{"number", `1e309`, "malformed-json"},
		{"truncated", "HALF", "malformed-json"},
		{"two objects", "VALID VALID", "malformed-json"},
		{"raw NUL byte", "{\"x\":\"\x00\"}", "malformed-json"},
		{"invalid UTF-8", "{\"x\":\"\xff\xfe\"}", "malformed-json"},
		{"overlong UTF-8", "{\"x\":\"\xc0\xaf\"}", "malformed-json"},
		{"lone surrogate", `{"x":"\udc00"}`, "malformed-json"},
		{"unpaired high surrogate", `{"x":"\ud800x"}`, "malformed-json"},
		{"deep nesting, 10k levels", `{"x":` + strings.Repeat(`[`, 10_000) + strings.Repeat(`]`, 10_000) + `}`, "malformed-json"},
		{"deep nesting, 100k objects", strings.Repeat(`{"x":`, 100_000) + `1` + strings.Repeat(`}`, 100_000), "malformed-json"},
		{"deep nesting within the limit of encoding/json", strings.Repeat(`[`, 9_999) + strings.Repeat(`]`, 9_999), "malformed-json"},
		{"10 MB", `{"x":"` + strings.Repeat("a", 10<<20) + `"}`, "payload-too-large"},
	}
	contentTypes := []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"application/json; charset=latin1", "application/json-patch+json", "application/xml", "application/jsonx", "application/json; =", ""}

	type hostileCase struct {
		name, method, path, body string
		header                   []string
		status                   int    // 0: any 4xx
		kind                     string // "": any
		// fields are the fields a validation problem must name, all and
		// only them; nil checks no fields.
		fields []string
	}
	// accepted are hostile-looking values a member accepts, sent after the
	// refusals: the member's value must come back as sent.
	type acceptedCase struct {
		name, method, path, body, field, value string
	}
	var (
		cases    []hostileCase
		accepted []acceptedCase
		n        int // numbers the bodies, for fresh unique members
	)
	next := func() int { n++; return n }
	for _, r := range routes {
		prefix := r.method + " " + r.path
		for _, m := range r.members {
			for _, v := range append(slices.Clone(hostileValues), m.extra...) {
				name := prefix + ": " + m.name + " " + v.name
				body := r.body(next(), m.name, v.value)
				if slices.Contains(v.acceptedBy, m.kind) {
					accepted = append(accepted, acceptedCase{name: name, method: r.method, path: r.path, body: body, field: m.name, value: v.value})
					continue
				}
				field := v.field
				switch {
				case field != "":
				case m.kind == kindLines && strings.HasPrefix(v.value, "["):
					// An array is what lines must be: its element is wrong.
					field = m.name + "[0]"
				default:
					field = m.name
				}
				cases = append(cases, hostileCase{name: name, method: r.method, path: r.path,
					body: body, status: 400, kind: "validation", fields: []string{field}})
			}
			valid := r.body(next(), "", "")
			cases = append(cases, hostileCase{name: prefix + ": duplicate " + m.name, method: r.method, path: r.path,
				body: strings.Replace(valid, "{", `{"`+m.name+`":`+m.valid(n)+`,`, 1), status: 400, kind: "malformed-json"})
		}
		for _, b := range hostileBodies {
			kind, status := b.kind, 400
			if kind == "payload-too-large" {
				status = 413
			}
			var fields []string
			if kind == "validation" {
				fields = r.required()
				if len(fields) == 0 {
					continue // an empty PATCH changes nothing and is fine
				}
			}
			valid := r.body(next(), "", "")
			cases = append(cases, hostileCase{name: prefix + ": " + b.name, method: r.method, path: r.path,
				body: strings.ReplaceAll(strings.ReplaceAll(b.body, "VALID", valid), "HALF", valid[:len(valid)/2]), status: status, kind: kind, fields: fields})
		}
		for _, ct := range contentTypes {
			cases = append(cases, hostileCase{name: prefix + ": Content-Type " + fmt.Sprintf("%q", ct), method: r.method, path: r.path,
				body: r.body(next(), "", ""), header: []string{"Content-Type", ct}, status: 415, kind: "unsupported-media-type"})
		}
	}
	// Hostile Idempotency-Key headers on an otherwise valid order.
	for name, key := range map[string]string{"256 characters": strings.Repeat("k", 256), "non-ASCII": "ключ", "tab": "a\tb"} {
		cases = append(cases, hostileCase{name: "POST /api/v1/orders: Idempotency-Key " + name, method: "POST", path: "/api/v1/orders",
			body: routes[6].body(next(), "", ""), header: []string{"Idempotency-Key", key}, status: 400, kind: "validation", fields: []string{"Idempotency-Key"}})
	}

	// Hostile path ids: on the order transitions too, which read no body.
	hostileIDs := []string{"%00", "%ff%fe", "..%2f..%2fetc%2fpasswd", "' OR 1=1 --", strings.Repeat("9", 5000), "0190B5F2-7C1E-7A3B-9D4E-5F6A7B8C9D0E%00",
		"{" + product + "}", "urn:uuid:" + product, "%F0%9F%98%80", product[:35] + "é"}
	for _, id := range hostileIDs {
		escaped := strings.ReplaceAll(id, " ", "%20")
		for _, p := range []string{"/api/v1/products/%s", "/api/v1/customers/%s", "/api/v1/orders/%s", "/api/v1/customers/%s/orders"} {
			cases = append(cases, hostileCase{name: "GET " + p + " id " + id, method: "GET", path: fmt.Sprintf(p, escaped)})
		}
		for _, op := range []string{"pay", "ship", "cancel"} {
			cases = append(cases, hostileCase{name: "POST order " + op + " id " + id, method: "POST", path: "/api/v1/orders/" + escaped + "/" + op})
		}
		cases = append(cases, hostileCase{name: "PUT price id " + id, method: "PUT", path: "/api/v1/products/" + escaped + "/price", body: `{"priceCents":1}`})
	}
	for _, op := range []string{"pay", "ship", "cancel"} {
		cases = append(cases, hostileCase{name: "POST order " + op + ": 10 MB body", method: "POST", path: "/api/v1/orders/" + order + "/" + op,
			body: strings.Repeat(" ", 10<<20), status: 413, kind: "payload-too-large"})
	}
	for _, sku := range []string{"%00", "%ff", "é", strings.Repeat("A", 65), "..%2f", "a%20b", "%27%3B--"} {
		cases = append(cases, hostileCase{name: "GET by-sku " + sku, method: "GET", path: "/api/v1/products/by-sku/" + sku, status: 400, kind: "validation", fields: []string{"sku"}})
	}
	for _, q := range []string{"page=0", "page=-1", "page=-0", "page=%2B1", "page=1e3", "page=1.0", "page=99999999999999999999", "page=%00",
		"page=%ff", "page=1%20", "page=1&page=2", "pageSize=0", "pageSize=101", "pageSize=9223372036854775808", "pageSize=", "search=%00",
		"search=%ff%fe", "search=a&search=b", "page=null", "page=%EF%BC%91"} {
		field, _, _ := strings.Cut(q, "=")
		cases = append(cases, hostileCase{name: "GET products?" + q, method: "GET", path: "/api/v1/products?" + q, status: 400, kind: "validation", fields: []string{field}})
	}

	before := databaseState(t, a)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.call(c.method, c.path, c.body, c.header...)
			if c.status != 0 {
				p := expectProblem(t, r, c.status, c.kind)
				if c.fields != nil {
					expectFields(t, p, c.fields)
				}
			} else if r.status < 400 || r.status > 499 || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d %s, want a 4xx problem; body %.300s", r.status, r.header.Get("Content-Type"), r.body)
			}
			for _, leak := range []string{"SQLSTATE", "goroutine", "panic", "pgx", "runtime/"} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("answer leaks %q: %.300s", leak, r.body)
				}
			}
		})
	}
	// Reads the hostile queries did not refuse: a search is data, never SQL.
	for _, q := range []string{"search=" + url.QueryEscape("'; DROP TABLE products; --"), "search=" + url.QueryEscape("%_\\"), "search=" + strings.Repeat("é", 100)} {
		r := a.call(http.MethodGet, "/api/v1/products?"+q, "")
		expect(t, r, http.StatusOK)
		if n := r.json(t)["totalCount"]; n != 0.0 {
			t.Errorf("search %q found %v products", q, n)
		}
	}
	if after := databaseState(t, a); after != before {
		t.Errorf("hostile input changed the database:\nbefore %s\nafter  %s", before, after)
	}

	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			var want string
			if err := json.Unmarshal([]byte(c.value), &want); err != nil {
				t.Fatal(err)
			}
			r := a.call(c.method, c.path, c.body)
			if r.status != http.StatusOK && r.status != http.StatusCreated {
				t.Fatalf("status %d, want 200 or 201; body %.300s", r.status, r.body)
			}
			location := c.path
			if c.method == http.MethodPost {
				location = r.header.Get("Location")
			}
			read := a.call(http.MethodGet, location, "")
			expect(t, read, http.StatusOK)
			if got, stored := r.json(t)[c.field], read.json(t)[c.field]; got != want || stored != want {
				t.Errorf("%s answered %q and read back %q, want %q", c.field, got, stored, want)
			}
		})
	}
}

// expectFields fails unless the validation problem p lists failures of
// exactly these fields, each once.
func expectFields(t *testing.T, p map[string]any, want []string) {
	t.Helper()
	errs, _ := p["errors"].([]any)
	var got []string
	for _, e := range errs {
		field, _ := e.(map[string]any)["field"].(string)
		got = append(got, field)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("errors name %q, want exactly %q: %v", got, want, p["errors"])
	}
}
