package http

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// publicCatalogueMaxAge is how long clients and proxies may keep the public
// catalogue: as long as the output cache keeps it (docs/guarantees.md,
// "Cache policy").
const publicCatalogueMaxAge = "public, max-age=300"

func (s *Server) handleCreateProduct(c echo.Context) error {
	obj, err := s.readJSONObject(c)
	if err != nil {
		return err
	}
	cmd, err := decodeCreateProduct(obj)
	if err != nil {
		return err
	}
	p, err := s.app.Commands.CreateProduct.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	return writeProduct(c, http.StatusCreated, p, productLocation(p.ID))
}

func decodeCreateProduct(obj jsonObject) (app.CreateProduct, error) {
	f := newFieldReader(obj)
	cmd := app.CreateProduct{
		SKU:          f.requiredString("sku"),
		Name:         f.requiredString("name"),
		Description:  deref(f.optionalString("description")),
		PriceCents:   f.requiredInt("priceCents"),
		Currency:     f.requiredString("currency"),
		InitialStock: f.optionalInt("initialStock", 0),
	}
	if f.failed() {
		_, rules := domain.CreateProduct("", cmd.SKU, cmd.Name, cmd.Description, cmd.PriceCents, cmd.Currency, cmd.InitialStock)
		return cmd, f.err(rules)
	}
	return cmd, nil
}

func (s *Server) handleGetProduct(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, served, err := s.app.Queries.Product.ByID(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("get product: %w", err)
	}
	return writeReply(c, reply{status: http.StatusOK, body: utcProduct(p), etag: versionETag(p.Version), xCache: served})
}

func (s *Server) handleGetProductBySKU(c echo.Context) error {
	sku, err := pathSKU(c)
	if err != nil {
		return err
	}
	p, served, err := s.app.Queries.Product.BySKU(c.Request().Context(), sku)
	if err != nil {
		return fmt.Errorf("get product by sku: %w", err)
	}
	return writeReply(c, reply{status: http.StatusOK, body: utcProduct(p), etag: versionETag(p.Version), xCache: served})
}

// pathSKU reads the path parameter "sku" as given: lookups compare it
// case-insensitively. A value no SKU can have (1 to 64 of A-Z a-z 0-9 . _ -,
// docs/guarantees.md "Validation") is a malformed identifier, answered 400
// like a malformed id.
func pathSKU(c echo.Context) (string, error) {
	// Echo leaves escapes a client chose in the parameter; no SKU character
	// needs one, so decoding them only helps clients that over-escape.
	sku, err := url.PathUnescape(c.Param("sku"))
	if err == nil && isSKU(sku) {
		return sku, nil
	}
	return "", &domain.ValidationError{Fields: []domain.FieldError{{
		Field:   "sku",
		Message: fmt.Sprintf("must be 1 to %d of A-Z a-z 0-9 . _ -", domain.MaxSKULength),
	}}}
}

func isSKU(s string) bool {
	if s == "" || len(s) > domain.MaxSKULength {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func (s *Server) handleListProducts(c echo.Context) error {
	q, err := decodeListProducts(c.QueryParams())
	if err != nil {
		return err
	}
	page, served, err := s.app.Queries.ListProducts.Handle(c.Request().Context(), q)
	if err != nil {
		return fmt.Errorf("list products: %w", err)
	}
	body, err := page.JSON()
	if err != nil {
		return fmt.Errorf("encode products: %w", err)
	}
	return writeReply(c, reply{status: http.StatusOK, encoded: body, xCache: served})
}

// decodeListProducts reads page, pageSize and search; absent paging takes the
// defaults, anything present must be a positive integer.
func decodeListProducts(query url.Values) (app.ListProducts, error) {
	var v domain.ValidationError
	q := app.ListProducts{
		Page:     queryPositiveInt(&v, query, "page", maxPage),
		PageSize: queryPositiveInt(&v, query, "pageSize", app.MaxPageSize),
	}
	if search, ok := querySingle(&v, query, "search"); ok {
		// PostgreSQL refuses NUL and invalid UTF-8 in text; neither can
		// match a name or SKU, so they are the client's mistake.
		if !utf8.ValidString(search) || strings.ContainsRune(search, 0) {
			v.Fields = append(v.Fields, domain.FieldError{Field: "search", Message: "must be valid UTF-8 text without NUL"})
		}
		q.Search = search
	}
	if len(v.Fields) > 0 {
		return q, &v
	}
	return q, nil
}

// querySingle returns the parameter's value when it is given exactly once.
func querySingle(v *domain.ValidationError, query url.Values, name string) (string, bool) {
	values, ok := query[name]
	if !ok {
		return "", false
	}
	if len(values) != 1 {
		v.Fields = append(v.Fields, domain.FieldError{Field: name, Message: msgGivenOnce})
		return "", false
	}
	return values[0], true
}

// maxPage bounds the page number so that the row offset it implies cannot
// overflow; any page that large is far past the end anyway.
const maxPage = math.MaxInt32

// queryPositiveInt reads a parameter that must be an integer from 1 to upTo;
// absent gives 0, which app reads as the default.
func queryPositiveInt(v *domain.ValidationError, query url.Values, name string, upTo int) int {
	s, ok := querySingle(v, query, name)
	if !ok {
		return 0
	}
	// Atoi alone would also take "+5" and "-0".
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" || n < 1 || n > upTo {
		v.Fields = append(v.Fields, domain.FieldError{Field: name, Message: fmt.Sprintf("must be an integer from 1 to %d", upTo)})
		return 0
	}
	return n
}

// handlePublicProducts serves the anonymous catalogue: page one of the list
// with the default page size, cacheable by clients and proxies, and answered
// 304 when the client holds the same bytes.
func (s *Server) handlePublicProducts(c echo.Context) error {
	page, served, err := s.app.Queries.ListProducts.Handle(c.Request().Context(), app.ListProducts{Page: 1, PageSize: app.DefaultPageSize})
	if err != nil {
		return fmt.Errorf("public catalogue: %w", err)
	}
	body, err := page.JSON()
	if err != nil {
		return fmt.Errorf("encode public catalogue: %w", err)
	}
	c.Response().Header().Set(headerCacheControl, publicCatalogueMaxAge)
	return writeReply(c, reply{status: http.StatusOK, encoded: body, xCache: served})
}

func (s *Server) handleChangeProductDetails(c echo.Context) error {
	id, f, err := s.readResourceBody(c)
	if err != nil {
		return err
	}
	cmd, err := decodeChangeProductDetails(id, f)
	if err != nil {
		return err
	}
	p, err := s.app.Commands.ChangeProductDetails.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("change product details: %w", err)
	}
	return writeProduct(c, http.StatusOK, p, "")
}

func (s *Server) handleChangeProductPrice(c echo.Context) error {
	id, f, err := s.readResourceBody(c)
	if err != nil {
		return err
	}
	cmd, err := decodeChangeProductPrice(id, f)
	if err != nil {
		return err
	}
	p, err := s.app.Commands.ChangeProductPrice.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("change product price: %w", err)
	}
	return writeProduct(c, http.StatusOK, p, "")
}

func (s *Server) handleRestockProduct(c echo.Context) error {
	id, f, err := s.readResourceBody(c)
	if err != nil {
		return err
	}
	cmd, err := decodeRestockProduct(id, f)
	if err != nil {
		return err
	}
	p, err := s.app.Commands.RestockProduct.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("restock product: %w", err)
	}
	return writeProduct(c, http.StatusOK, p, "")
}

// decodeChangeProductDetails reads {name?, description?}; absent fields stay
// unchanged, null ones are invalid.
func decodeChangeProductDetails(id string, f fieldReader) (app.ChangeProductDetails, error) {
	cmd := app.ChangeProductDetails{ProductID: id, Name: f.optionalString("name"), Description: f.optionalString("description")}
	if f.failed() {
		return cmd, f.err(domain.RestoreProduct(id, 0, domain.ProductState{}).ChangeDetails(cmd.Name, cmd.Description))
	}
	return cmd, nil
}

// decodeChangeProductPrice reads {priceCents}.
func decodeChangeProductPrice(id string, f fieldReader) (app.ChangeProductPrice, error) {
	cmd := app.ChangeProductPrice{ProductID: id, PriceCents: f.requiredInt("priceCents")}
	return cmd, f.err(nil)
}

// decodeRestockProduct reads {quantity}.
func decodeRestockProduct(id string, f fieldReader) (app.RestockProduct, error) {
	cmd := app.RestockProduct{ProductID: id, Quantity: f.requiredInt("quantity")}
	return cmd, f.err(nil)
}

// writeProduct answers a command's product; location is set on creation.
func writeProduct(c echo.Context, status int, p app.Product, location string) error {
	return writeReply(c, reply{status: status, body: utcProduct(p), etag: versionETag(p.Version), location: location})
}

func productLocation(id string) string { return "/api/v1/products/" + id }

// utcProduct makes the timestamps render in UTC (docs/guarantees.md, "API
// conventions"), whatever zone the store read them in.
func utcProduct(p app.Product) app.Product {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
