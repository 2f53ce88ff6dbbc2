package http

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app/wire"
)

const (
	productsPath = "/api/v1/products"
	someID       = "0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e"
)

func TestWrongTypesListedPerField(t *testing.T) {
	s := newTestServer(t, nil, nil)
	rec := s.do(t, request{method: http.MethodPost, path: productsPath, body: `{
		"sku": 12, "name": null, "description": ["x"], "priceCents": "12",
		"currency": "EUR", "initialStock": 1.5, "unknown": {"ignored": true}
	}`})
	p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
	got := fieldMessages(p)
	want := map[string]string{
		"sku":          msgString,
		"name":         msgNotNull,
		"description":  msgString,
		"priceCents":   msgInteger,
		"initialStock": msgInteger,
	}
	for field, msg := range want {
		if len(got[field]) != 1 || got[field][0] != msg {
			t.Errorf("%s: messages %q, want [%q]", field, got[field], msg)
		}
	}
	wantFields(t, p, "sku", "name", "description", "priceCents", "initialStock")
}

func TestMissingFieldsAreRequired(t *testing.T) {
	s := newTestServer(t, nil, nil)
	p := readProblem(t, s.do(t, request{method: http.MethodPost, path: productsPath, body: `{}`}), http.StatusBadRequest, kindValidation)
	wantFields(t, p, "sku", "name", "priceCents", "currency")
	for _, f := range p.Errors {
		if f.Message != msgRequired {
			t.Errorf("%s: message %q, want %q", f.Field, f.Message, msgRequired)
		}
	}
}

// Type failures and the domain's rule failures arrive in one problem.
func TestTypeAndRuleFailuresTogether(t *testing.T) {
	s := newTestServer(t, nil, nil)
	rec := s.do(t, request{method: http.MethodPost, path: productsPath, body: `{"sku":"bad sku!","name":"Mug","priceCents":"12","currency":"XXX"}`})
	p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
	wantFields(t, p, "sku", "priceCents", "currency")
	if m := fieldMessages(p)["priceCents"]; len(m) != 1 || m[0] != msgInteger {
		t.Errorf("priceCents messages %q: the rule's complaint about the stand-in zero must not appear", m)
	}
}

func TestIntegers(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		value, message string
	}{
		{`"12"`, msgInteger},
		{`1.5`, msgInteger},
		{`1.0`, msgInteger},
		{`1e3`, msgInteger},
		{`1e20`, msgInteger},
		{`-1E2`, msgInteger},
		{`-0`, msgInteger},
		{`true`, msgInteger},
		{`{}`, msgInteger},
		{`[]`, msgInteger},
		{`null`, msgNotNull},
		{`9223372036854775808`, msgIntRange},
		{`-9223372036854775809`, msgIntRange},
		{`99999999999999999999999`, msgIntRange},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			rec := s.do(t, request{method: http.MethodPut, path: productsPath + "/" + someID + "/price", body: `{"priceCents":` + tt.value + `}`})
			p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
			wantFields(t, p, "priceCents")
			if p.Errors[0].Message != tt.message {
				t.Errorf("message %q, want %q", p.Errors[0].Message, tt.message)
			}
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		name, body, detail string
	}{
		{"Empty", " \n", "empty"},
		{"Truncated", `{"sku":"a"`, "ends before"},
		{"Syntax", `{"sku":}`, "not valid JSON"},
		{"SingleQuotes", `{'sku':'a'}`, "not valid JSON"},
		{"TrailingValue", `{"sku":"a"} {}`, "after the JSON value"},
		{"TrailingGarbage", `{"sku":"a"}x`, "after the JSON value"},
		{"TrailingBracket", `{"sku":"a"}]`, "after the JSON value"},
		{"DuplicateKey", `{"sku":"a","name":"n","sku":"b"}`, `"sku" appears more than once`},
		{"DuplicateEscapedKey", `{"sku":"a","\u0073ku":"b"}`, `"sku" appears more than once`},
		{"DuplicateNestedKey", `{"customerId":"x","lines":[{"productId":"a","quantity":1,"quantity":2}]}`, `"quantity" appears more than once`},
		{"Array", `[{"sku":"a"}]`, "must be a JSON object"},
		{"String", `"sku"`, "must be a JSON object"},
		{"Null", `null`, "must be a JSON object"},
		{"InvalidUTF8", "{\"sku\":\"\xff\"}", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := productsPath
			if strings.Contains(tt.body, "lines") {
				path = "/api/v1/orders"
			}
			rec := s.do(t, request{method: http.MethodPost, path: path, body: tt.body})
			p := readProblem(t, rec, http.StatusBadRequest, kindMalformedJSON)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q, want it to hold %q", p.Detail, tt.detail)
			}
		})
	}
	t.Run("SameKeyInSiblingObjects", func(t *testing.T) {
		body := fmt.Sprintf(`{"customerId":"x","lines":[{"productId":%q,"quantity":"1"},{"productId":%q,"quantity":1}]}`, someID, someID)
		p := readProblem(t, s.do(t, request{method: http.MethodPost, path: "/api/v1/orders", body: body}), http.StatusBadRequest, kindValidation)
		wantFields(t, p, "customerId", "lines[0].quantity", "lines[1].productId")
	})
}

func TestContentType(t *testing.T) {
	s := newTestServer(t, nil, nil)
	body := `{"priceCents":"12"}`
	path := productsPath + "/" + someID + "/price"
	for _, ct := range []string{"", "text/plain", "application/xml", "application/json; charset=latin1", "application/jsonx", "application/json;;"} {
		t.Run("Refused/"+ct, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, path, strings.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			readProblem(t, rec, http.StatusUnsupportedMediaType, kindUnsupportedMediaType)
		})
	}
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=UTF-8", "application/json;charset=utf-8"} {
		t.Run("Accepted/"+ct, func(t *testing.T) {
			rec := s.do(t, request{method: http.MethodPut, path: path, body: body, header: map[string]string{"Content-Type": ct}})
			readProblem(t, rec, http.StatusBadRequest, kindValidation)
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t, nil, nil)
	// Valid JSON just over 1 MiB: only the size is wrong.
	big := `{"name":"` + strings.Repeat("a", int(DefaultBodyLimit)) + `"}`
	t.Run("ContentLength", func(t *testing.T) {
		rec := s.do(t, request{method: http.MethodPost, path: productsPath, body: big})
		readProblem(t, rec, http.StatusRequestEntityTooLarge, kindPayloadTooLarge)
	})
	t.Run("Chunked", func(t *testing.T) {
		// No Content-Length: the limit must hold while reading.
		req := httptest.NewRequest(http.MethodPost, productsPath, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		readProblem(t, rec, http.StatusRequestEntityTooLarge, kindPayloadTooLarge)
	})
	t.Run("AtLimit", func(t *testing.T) {
		padding := int(DefaultBodyLimit) - len(`{"name":""}`)
		rec := s.do(t, request{method: http.MethodPost, path: productsPath, body: `{"name":"` + strings.Repeat("a", padding) + `"}`})
		readProblem(t, rec, http.StatusBadRequest, kindValidation)
	})
}

func TestPathIDs(t *testing.T) {
	s := newTestServer(t, nil, nil)
	bad := []string{"not-a-uuid", "123", "0190b5f27c1e7a3b9d4e5f6a7b8c9d0e", "{" + someID + "}", someID + "0", "0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0g"}
	routes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/products/%s"},
		{http.MethodPatch, "/api/v1/products/%s"},
		{http.MethodPut, "/api/v1/products/%s/price"},
		{http.MethodPost, "/api/v1/products/%s/stock"},
		{http.MethodGet, "/api/v1/customers/%s"},
		{http.MethodPatch, "/api/v1/customers/%s"},
		{http.MethodGet, "/api/v1/customers/%s/orders"},
		{http.MethodGet, "/api/v1/orders/%s"},
		{http.MethodPost, "/api/v1/orders/%s/pay"},
		{http.MethodPost, "/api/v1/orders/%s/ship"},
		{http.MethodPost, "/api/v1/orders/%s/cancel"},
	}
	for _, r := range routes {
		for _, id := range bad {
			t.Run(r.method+" "+fmt.Sprintf(r.path, id), func(t *testing.T) {
				rec := s.do(t, request{method: r.method, path: fmt.Sprintf(r.path, id), body: `{}`})
				p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
				wantFields(t, p, "id")
			})
		}
	}
}

func TestCanonicalUUID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{someID, someID, true},
		{strings.ToUpper(someID), someID, true},
		{"urn:uuid:" + someID, "", false},
		{strings.ReplaceAll(someID, "-", ""), "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := canonicalUUID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("canonicalUUID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPatchNullIsValidation(t *testing.T) {
	s := newTestServer(t, nil, nil)
	p := readProblem(t, s.do(t, request{method: http.MethodPatch, path: productsPath + "/" + someID, body: `{"name":null,"description":"ok"}`}), http.StatusBadRequest, kindValidation)
	wantFields(t, p, "name")
	p = readProblem(t, s.do(t, request{method: http.MethodPatch, path: "/api/v1/customers/" + someID, body: `{"email":null,"name":""}`}), http.StatusBadRequest, kindValidation)
	wantFields(t, p, "email", "name")
}

func TestCustomerBody(t *testing.T) {
	s := newTestServer(t, nil, nil)
	p := readProblem(t, s.do(t, request{method: http.MethodPost, path: "/api/v1/customers", body: `{"email":"not an address","name":7}`}), http.StatusBadRequest, kindValidation)
	wantFields(t, p, "email", "name")
}

func TestOrderBody(t *testing.T) {
	s := newTestServer(t, nil, nil)
	orders := "/api/v1/orders"
	t.Run("Lines", func(t *testing.T) {
		body := fmt.Sprintf(`{"customerId":%q,"lines":[
			{"productId":"nope","quantity":1},
			{"productId":%q,"quantity":"2"},
			"line",
			null,
			{"productId":%q},
			{"productId":%q,"quantity":0}
		]}`, someID, someID, "0190b5f2-0000-7a3b-9d4e-5f6a7b8c9d0e", "0190b5f2-1111-7a3b-9d4e-5f6a7b8c9d0e")
		p := readProblem(t, s.do(t, request{method: http.MethodPost, path: orders, body: body}), http.StatusBadRequest, kindValidation)
		wantFields(t, p, "lines[0].productId", "lines[1].quantity", "lines[2]", "lines[3]", "lines[4].quantity", "lines[5].quantity")
	})
	t.Run("LinesNotArray", func(t *testing.T) {
		p := readProblem(t, s.do(t, request{method: http.MethodPost, path: orders, body: `{"customerId":"` + someID + `","lines":{}}`}), http.StatusBadRequest, kindValidation)
		wantFields(t, p, "lines")
	})
	t.Run("TooManyLines", func(t *testing.T) {
		lines := strings.TrimSuffix(strings.Repeat(`{"productId":"x","quantity":"y"},`, 101), ",")
		p := readProblem(t, s.do(t, request{method: http.MethodPost, path: orders, body: `{"customerId":"` + someID + `","lines":[` + lines + `]}`}), http.StatusBadRequest, kindValidation)
		wantFields(t, p, "lines")
	})
	t.Run("Missing", func(t *testing.T) {
		p := readProblem(t, s.do(t, request{method: http.MethodPost, path: orders, body: `{}`}), http.StatusBadRequest, kindValidation)
		wantFields(t, p, "customerId", "lines")
	})
	t.Run("IdempotencyKey", func(t *testing.T) {
		for _, key := range []string{strings.Repeat("k", 256), "tab\tkey", "zoë"} {
			rec := s.do(t, request{method: http.MethodPost, path: orders, body: `{"lines":[]}`, header: map[string]string{headerIdempotencyKey: key}})
			p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
			wantFields(t, p, "customerId", "lines", headerIdempotencyKey)
		}
	})
	t.Run("IdempotencyKeyTwice", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, orders, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add(headerIdempotencyKey, "a")
		req.Header.Add(headerIdempotencyKey, "b")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		p := readProblem(t, rec, http.StatusBadRequest, kindValidation)
		wantFields(t, p, "customerId", "lines", headerIdempotencyKey)
	})
}

func TestListQuery(t *testing.T) {
	// The search bound is the query's own rule: the query handler runs,
	// over ports that hold nothing.
	application, err := wire.New(failingStore{}, cannedReads{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, application, nil)
	tests := []struct {
		query  string
		fields []string
	}{
		{"page=0", []string{"page"}},
		{"page=-1", []string{"page"}},
		{"page=abc", []string{"page"}},
		{"page=1.5", []string{"page"}},
		{"page=%2B2", []string{"page"}},
		{"page=", []string{"page"}},
		{"page=99999999999999999999", []string{"page"}},
		{"page=1&page=2", []string{"page"}},
		{"pageSize=0", []string{"pageSize"}},
		{"pageSize=101", []string{"pageSize"}},
		{"pageSize=x&page=y", []string{"page", "pageSize"}},
		{"search=%00", []string{"search"}},
		{"search=%FF", []string{"search"}},
		{"search=" + strings.Repeat("a", 201), []string{"search"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := readProblem(t, s.do(t, request{method: http.MethodGet, path: productsPath + "?" + tt.query}), http.StatusBadRequest, kindValidation)
			wantFields(t, p, tt.fields...)
		})
	}
}

func TestSKUPath(t *testing.T) {
	s := newTestServer(t, nil, nil)
	for _, sku := range []string{strings.Repeat("A", 65), "has%20space", "nul%00", "%FF"} {
		t.Run(sku, func(t *testing.T) {
			p := readProblem(t, s.do(t, request{method: http.MethodGet, path: productsPath + "/by-sku/" + sku}), http.StatusBadRequest, kindValidation)
			wantFields(t, p, "sku")
		})
	}
}
