package http

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/ops"
	"github.com/orderflow/orderflow/domain"
)

// The operations console (docs/adr/0017-operations-console.md): a page
// that loads anonymously, and admin data and action calls under
// /api/v1/admin that carry the bearer token the page keeps in
// sessionStorage.

//go:embed console/console.html console/console.js console/console.css
var consoleAssets embed.FS

// consolePolicy lets the console page run its own script and style and
// call the API, and nothing else: no inline script, no other origin.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveConsoleAsset answers one embedded file of the console.
func serveConsoleAsset(name, contentType string) echo.HandlerFunc {
	return func(c echo.Context) error {
		data, err := consoleAssets.ReadFile("console/" + name)
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("Content-Security-Policy", consolePolicy)
		h.Set("Cache-Control", "no-cache")
		return c.Blob(http.StatusOK, contentType, data)
	}
}

// errNoConsole answers the console's calls on an API built without it.
var errNoConsole = &requestError{kind: kindUnavailable, detail: "The operations console is not configured on this instance."}

// consoleActor is who acts: the token's role and subject.
func consoleActor(c echo.Context) string {
	if a := app.MetadataFrom(c.Request().Context()).Actor; a != "" {
		return a
	}
	return "anonymous (auth off)"
}

func (s *Server) handleConsoleOverview(c echo.Context) error {
	if s.console == nil {
		return errNoConsole
	}
	return writeReply(c, reply{status: http.StatusOK, body: s.console.Overview(c.Request().Context()), xCache: app.CacheBypass})
}

func (s *Server) handleListDeadLetters(c echo.Context) error {
	if s.console == nil {
		return errNoConsole
	}
	limit := 50
	if vs, ok := c.QueryParams()["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 || n > ops.MaxDeadLetterPage {
			return &domain.ValidationError{Fields: []domain.FieldError{{Field: "limit", Message: "must be one integer from 1 to " + strconv.Itoa(ops.MaxDeadLetterPage)}}}
		}
		limit = n
	}
	page := s.console.DeadLetters(c.Request().Context(), limit)
	if page.Error != "" {
		return &requestError{kind: kindUnavailable, detail: "Redis is unreachable; retry later."}
	}
	return writeReply(c, reply{status: http.StatusOK, body: page, xCache: app.CacheBypass})
}

// streamEntryID is a Redis stream entry id.
var streamEntryID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// readParkedSelection reads {"ids": [...]} or {"all": true}.
func (s *Server) readParkedSelection(c echo.Context) ([]string, bool, error) {
	obj, err := s.readJSONObject(c)
	if err != nil {
		return nil, false, err
	}
	f := newFieldReader(obj)
	all := false
	if raw, ok := f.member("all", false); ok {
		if !bytes.Equal(raw, []byte("true")) && !bytes.Equal(raw, []byte("false")) {
			f.fail("all", "must be a boolean")
		}
		all = bytes.Equal(raw, []byte("true"))
	}
	var ids []string
	if raw, ok := f.member("ids", false); ok {
		if json.Unmarshal(raw, &ids) != nil || raw[0] != '[' {
			f.fail("ids", "must be an array of stream entry ids such as 1732577000000-0")
		} else {
			for i, id := range ids {
				if !streamEntryID.MatchString(id) {
					f.fail("ids["+strconv.Itoa(i)+"]", "must be a stream entry id such as 1732577000000-0")
				}
			}
		}
	}
	switch {
	case f.failed():
	case all && len(ids) > 0:
		f.fail("ids", "must be left out when all is true")
	case !all && len(ids) == 0:
		f.fail("ids", "must name at least one entry, or send all: true")
	case len(ids) > ops.MaxRedriveIDs:
		f.fail("ids", "must name at most "+strconv.Itoa(ops.MaxRedriveIDs)+" entries; send all: true for more")
	}
	return ids, all, f.err(nil)
}

func (s *Server) handleRedriveDeadLetters(c echo.Context) error {
	return s.parkedAction(c, s.consoleRedrive)
}

func (s *Server) handleDropDeadLetters(c echo.Context) error {
	return s.parkedAction(c, s.consoleDrop)
}

func (s *Server) consoleRedrive(c echo.Context, ids []string, all bool) (ops.ActionResult, error) {
	return s.console.Redrive(c.Request().Context(), consoleActor(c), ids, all)
}

func (s *Server) consoleDrop(c echo.Context, ids []string, all bool) (ops.ActionResult, error) {
	return s.console.Drop(c.Request().Context(), consoleActor(c), ids, all)
}

func (s *Server) parkedAction(c echo.Context, act func(echo.Context, []string, bool) (ops.ActionResult, error)) error {
	if s.console == nil {
		return errNoConsole
	}
	ids, all, err := s.readParkedSelection(c)
	if err != nil {
		return err
	}
	res, err := act(c, ids, all)
	if err != nil {
		return &requestError{kind: kindUnavailable, detail: "The action did not finish (Redis unreachable or an entry unreadable); " +
			strconv.FormatInt(res.Done, 10) + " entries were handled. See the audit list."}
	}
	return writeReply(c, reply{status: http.StatusOK, body: res})
}

func (s *Server) handleStartReplay(c echo.Context) error {
	if s.console == nil {
		return errNoConsole
	}
	obj, err := s.readJSONObject(c)
	if err != nil {
		return err
	}
	f := newFieldReader(obj)
	from := "auto"
	if v := f.optionalString("from"); v != nil {
		from = *v
		if from != "auto" && from != "streams" && from != "store" {
			f.fail("from", "must be auto, streams or store")
		}
	}
	if err := f.err(nil); err != nil {
		return err
	}
	st, err := s.console.StartReplay(c.Request().Context(), consoleActor(c), from)
	switch {
	case errors.Is(err, ops.ErrReplayBusy):
		return &requestError{kind: kindConflict, detail: "A replay is already requested or running; wait for it or cancel it."}
	case err != nil:
		return &requestError{kind: kindUnavailable, detail: "Redis is unreachable; retry later."}
	}
	return writeReply(c, reply{status: http.StatusAccepted, body: st})
}

func (s *Server) handleCancelReplay(c echo.Context) error {
	if s.console == nil {
		return errNoConsole
	}
	st, err := s.console.CancelReplay(c.Request().Context(), consoleActor(c))
	switch {
	case errors.Is(err, ops.ErrNoReplay):
		return &requestError{kind: kindNotFound, detail: "No replay is requested or running."}
	case err != nil:
		return &requestError{kind: kindUnavailable, detail: "Redis is unreachable; retry later."}
	}
	return writeReply(c, reply{status: http.StatusOK, body: st})
}

// registerConsoleRoutes adds the console's page and calls.
func (s *Server) registerConsoleRoutes(api *echo.Group) {
	api.GET("/admin/overview", s.handleConsoleOverview)
	api.GET("/admin/dead-letters", s.handleListDeadLetters)
	api.POST("/admin/dead-letters/redrive", s.handleRedriveDeadLetters)
	api.POST("/admin/dead-letters/drop", s.handleDropDeadLetters)
	api.POST("/admin/replay", s.handleStartReplay)
	api.POST("/admin/replay/cancel", s.handleCancelReplay)
	s.echo.GET("/admin/console", serveConsoleAsset("console.html", "text/html; charset=utf-8"))
	s.echo.GET("/admin/console/console.js", serveConsoleAsset("console.js", "text/javascript; charset=utf-8"))
	s.echo.GET("/admin/console/console.css", serveConsoleAsset("console.css", "text/css; charset=utf-8"))
}
