package http

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// maxIdempotencyKeyLength bounds Idempotency-Key: 1 to 255 printable ASCII
// (docs/guarantees.md, "Idempotency").
const maxIdempotencyKeyLength = 255

func (s *Server) handlePlaceOrder(c echo.Context) error {
	obj, err := s.readJSONObject(c)
	if err != nil {
		return err
	}
	cmd, bodyErr := decodePlaceOrder(obj)
	key, keyErr := idempotencyKey(c.Request().Header)
	if err := joinValidation(bodyErr, keyErr); err != nil {
		return err
	}
	cmd.IdempotencyKey, cmd.Caller = key, actor(c)
	placed, err := s.app.Commands.PlaceOrder.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	if placed.Replayed {
		c.Response().Header().Set(headerIdempotentReplayed, "true")
	}
	o := placed.Order
	return writeReply(c, reply{status: http.StatusCreated, body: utcOrder(o), etag: versionETag(o.Version), location: "/api/v1/orders/" + o.ID})
}

// idempotencyKey reads the optional Idempotency-Key header: when given it
// must be one value of 1 to 255 printable ASCII characters.
func idempotencyKey(h http.Header) (string, error) {
	values := h.Values(headerIdempotencyKey)
	if len(values) == 0 {
		return "", nil
	}
	invalid := &domain.ValidationError{Fields: []domain.FieldError{{
		Field:   headerIdempotencyKey,
		Message: fmt.Sprintf("must be one value of 1 to %d printable ASCII characters", maxIdempotencyKeyLength),
	}}}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > maxIdempotencyKeyLength {
		return "", invalid
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", invalid
		}
	}
	return key, nil
}

// joinValidation lists the fields of every validation error in one, so that
// a bad header and a bad body are reported together. The errors come from
// this package's decoders, which return only validation errors.
func joinValidation(errs ...error) error {
	var all domain.ValidationError
	for _, err := range errs {
		if err == nil {
			continue
		}
		var v *domain.ValidationError
		if !errors.As(err, &v) {
			return err
		}
		all.Fields = append(all.Fields, v.Fields...)
	}
	if len(all.Fields) == 0 {
		return nil
	}
	return &all
}

// decodePlaceOrder reads {customerId, lines:[{productId, quantity}]}. Lines
// beyond the domain's maximum are not read one by one: the count alone fails,
// and a huge body must not produce a huge problem.
func decodePlaceOrder(obj jsonObject) (app.PlaceOrder, error) {
	f := newFieldReader(obj)
	cmd := app.PlaceOrder{CustomerID: f.requiredUUID("customerId")}
	raws := f.requiredArray("lines")
	if len(raws) > domain.MaxOrderLines {
		f.fail("lines", fmt.Sprintf("must hold 1 to %d lines", domain.MaxOrderLines))
		return cmd, f.err(nil)
	}
	cmd.Lines = make([]domain.LineRequest, len(raws))
	for i, raw := range raws {
		line, ok := f.object(fmt.Sprintf("lines[%d]", i), raw)
		if !ok {
			continue
		}
		cmd.Lines[i] = domain.LineRequest{ProductID: line.requiredUUID("productId"), Quantity: line.requiredInt("quantity")}
	}
	if f.failed() {
		return cmd, f.err(domain.CheckLines(cmd.Lines))
	}
	return cmd, nil
}

func (s *Server) handleGetOrder(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	o, err := s.app.Queries.Order.Handle(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("get order: %w", err)
	}
	// Orders are never cached (docs/guarantees.md, "Cache policy"): every
	// read goes to PostgreSQL.
	return writeReply(c, reply{status: http.StatusOK, body: utcOrder(o), etag: versionETag(o.Version), xCache: app.CacheBypass})
}

func (s *Server) handlePayOrder(c echo.Context) error {
	return s.transitionOrder(c, "pay order", s.app.Commands.PayOrder)
}

func (s *Server) handleShipOrder(c echo.Context) error {
	return s.transitionOrder(c, "ship order", s.app.Commands.ShipOrder)
}

func (s *Server) handleCancelOrder(c echo.Context) error {
	return s.transitionOrder(c, "cancel order", s.app.Commands.CancelOrder)
}

// transitionOrder moves the order in the path along its lifecycle. The
// transitions take no body; one that comes is ignored.
func (s *Server) transitionOrder(c echo.Context, op string, h app.Handler[app.OrderTransition, app.Order]) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	o, err := h.Handle(c.Request().Context(), app.OrderTransition{OrderID: id})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return writeReply(c, reply{status: http.StatusOK, body: utcOrder(o), etag: versionETag(o.Version)})
}

// utcOrder renders timestamps in UTC and no lines as [], not null.
func utcOrder(o app.Order) app.Order {
	o.PlacedAt, o.UpdatedAt = o.PlacedAt.UTC(), o.UpdatedAt.UTC()
	if o.Lines == nil {
		o.Lines = []app.OrderLine{}
	}
	return o
}
