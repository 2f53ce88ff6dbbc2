package http

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the API's contract, served as is. It is the package's
// one package-level variable: go:embed needs one, and nothing writes it.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// openAPIContentType is the media type registered for YAML (RFC 9512).
const openAPIContentType = "application/yaml"

func (s *Server) handleOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, openAPIContentType, openAPIDocument)
}
