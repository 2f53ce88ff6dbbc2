package http_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostileInputChangesNothing sends hostile input to every mutating route
// and to the path and query parameters of the GET routes: huge and
// overflowing numbers, floats where integers belong, unicode and control
// characters, NUL bytes, invalid UTF-8, nulls, duplicate keys, deep nesting,
// arrays where objects belong, a 10 MB body and wrong content types. Every
// answer is a 4xx problem that leaks nothing, and the database holds exactly
// what it held before (databaseState, badinput_test.go).
func TestHostileInputChangesNothing(t *testing.T) {
	a := newAPI(t)
	product := a.createProduct("HOSTILE-1", 500, 10, "EUR")["id"].(string)
	customer := a.registerCustomer("hostile@example.com")["id"].(string)
	placed := a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 1))
	expect(t, placed, http.StatusCreated)
	order := placed.json(t)["id"].(string)

	type route struct {
		method, path string
		// valid is a body the route accepts; fields maps each member to a
		// valid JSON value, so that one member at a time can turn hostile.
		valid  string
		fields map[string]string
	}
	line := `[{"productId":"` + product + `","quantity":1}]`
	routes := []route{
		{"POST", "/api/v1/products", "", map[string]string{"sku": `"HOSTILE-2"`, "name": `"n"`, "description": `"d"`, "priceCents": `1`, "currency": `"EUR"`, "initialStock": `1`}},
		{"PATCH", "/api/v1/products/" + product, "", map[string]string{"name": `"n2"`, "description": `"d2"`}},
		{"PUT", "/api/v1/products/" + product + "/price", "", map[string]string{"priceCents": `600`}},
		{"POST", "/api/v1/products/" + product + "/stock", "", map[string]string{"quantity": `5`}},
		{"POST", "/api/v1/customers", "", map[string]string{"email": `"other@example.com"`, "name": `"Bob"`}},
		{"PATCH", "/api/v1/customers/" + customer, "", map[string]string{"email": `"new@example.com"`, "name": `"Bob"`}},
		{"POST", "/api/v1/orders", "", map[string]string{"customerId": `"` + customer + `"`, "lines": line}},
	}
	for i := range routes {
		routes[i].valid = object(routes[i].fields, "", "")
	}

	// Values no field of any command accepts.
	hostileValues := []struct{ name, value string }{
		{"null", `null`},
		{"past int64", `92233720368547758070`},
		{"int64 max", `9223372036854775807`},
		{"int64 min", `-9223372036854775808`},
		{"1e309", `1e309`},
		{"-0", `-0`},
		{"1e3 as float", `1e3`},
		{"fraction", `0.5`},
		{"boolean", `true`},
		{"array", `["x"]`},
		{"object", `{"x":1}`},
		{"NUL escape", `"\u0000"`},
		{"control characters", `"\u0007\u001b[31m"`},
		{"only spaces", `"   "`},
		{"right-to-left override and emoji", `"\u202e😀 ü ḿ"`},
		{"fullwidth digits", `"１２３"`},
		{"SQL", `"x'); DROP TABLE events; --"`},
		{"10k characters", `"` + strings.Repeat("é", 10_000) + `"`},
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
	}
	var cases []hostileCase
	for _, r := range routes {
		prefix := r.method + " " + r.path
		for field := range r.fields {
			for _, v := range hostileValues {
				cases = append(cases, hostileCase{name: prefix + ": " + field + " " + v.name, method: r.method, path: r.path,
					body: object(r.fields, field, v.value), status: 400, kind: "validation"})
			}
			cases = append(cases, hostileCase{name: prefix + ": duplicate " + field, method: r.method, path: r.path,
				body: strings.Replace(r.valid, "{", `{"`+field+`":`+r.fields[field]+`,`, 1), status: 400, kind: "malformed-json"})
		}
		for _, b := range hostileBodies {
			kind, status := b.kind, 400
			if kind == "payload-too-large" {
				status = 413
			}
			if kind == "validation" && len(r.fields) == 2 && r.method == "PATCH" {
				continue // an empty PATCH changes nothing and is fine
			}
			cases = append(cases, hostileCase{name: prefix + ": " + b.name, method: r.method, path: r.path,
				body: strings.ReplaceAll(strings.ReplaceAll(b.body, "VALID", r.valid), "HALF", r.valid[:len(r.valid)/2]), status: status, kind: kind})
		}
		for _, ct := range contentTypes {
			cases = append(cases, hostileCase{name: prefix + ": Content-Type " + fmt.Sprintf("%q", ct), method: r.method, path: r.path,
				body: r.valid, header: []string{"Content-Type", ct}, status: 415, kind: "unsupported-media-type"})
		}
	}
	// Hostile Idempotency-Key headers on an otherwise valid order.
	for name, key := range map[string]string{"256 characters": strings.Repeat("k", 256), "non-ASCII": "ключ", "tab": "a\tb"} {
		cases = append(cases, hostileCase{name: "POST /api/v1/orders: Idempotency-Key " + name, method: "POST", path: "/api/v1/orders",
			body: routes[6].valid, header: []string{"Idempotency-Key", key}, status: 400, kind: "validation"})
	}
	// Overflowing order lines: every quantity at the line maximum cannot
	// be covered, and 101 lines are too many.
	var many []string
	for range 101 {
		many = append(many, `{"productId":"`+product+`","quantity":10000}`)
	}
	cases = append(cases, hostileCase{name: "POST /api/v1/orders: 101 lines", method: "POST", path: "/api/v1/orders",
		body: `{"customerId":"` + customer + `","lines":[` + strings.Join(many, ",") + `]}`, status: 400, kind: "validation"})

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
		cases = append(cases, hostileCase{name: "GET by-sku " + sku, method: "GET", path: "/api/v1/products/by-sku/" + sku, status: 400, kind: "validation"})
	}
	for _, q := range []string{"page=0", "page=-1", "page=-0", "page=%2B1", "page=1e3", "page=1.0", "page=99999999999999999999", "page=%00",
		"page=%ff", "page=1%20", "page=1&page=2", "pageSize=0", "pageSize=101", "pageSize=9223372036854775808", "pageSize=", "search=%00",
		"search=%ff%fe", "search=a&search=b", "page=null", "page=%EF%BC%91"} {
		cases = append(cases, hostileCase{name: "GET products?" + q, method: "GET", path: "/api/v1/products?" + q, status: 400, kind: "validation"})
	}

	before := databaseState(t, a)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.call(c.method, c.path, c.body, c.header...)
			if c.status != 0 {
				expectProblem(t, r, c.status, c.kind)
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
}

// object encodes fields as a JSON object, with field's value replaced by
// value (when field is not "") and every other string member made invalid
// too when the replacement alone might be acceptable.
func object(fields map[string]string, field, value string) string {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range fields {
		if !first {
			b.WriteString(",")
		}
		first = false
		switch {
		case k == field:
			v = value
		case field != "":
			// Another member turns invalid in a way of its own, so the
			// request fails even where value is acceptable for field.
			v = `{"not":"valid"}`
		}
		fmt.Fprintf(&b, "%q:%s", k, v)
	}
	b.WriteString("}")
	return b.String()
}
