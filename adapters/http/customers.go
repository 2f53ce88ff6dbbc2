package http

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

func (s *Server) handleRegisterCustomer(c echo.Context) error {
	obj, err := s.readJSONObject(c)
	if err != nil {
		return err
	}
	cmd, err := decodeRegisterCustomer(obj)
	if err != nil {
		return err
	}
	cu, err := s.app.Commands.RegisterCustomer.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("register customer: %w", err)
	}
	return writeCustomer(c, http.StatusCreated, cu, "/api/v1/customers/"+cu.ID)
}

func (s *Server) handleGetCustomer(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	cu, served, err := s.app.Queries.Customer.Handle(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("get customer: %w", err)
	}
	body, err := cu.JSON()
	if err != nil {
		return fmt.Errorf("encode customer: %w", err)
	}
	return writeReply(c, reply{status: http.StatusOK, encoded: body, etag: versionETag(cu.Version()), xCache: served})
}

func (s *Server) handleUpdateCustomer(c echo.Context) error {
	id, f, err := s.readResourceBody(c)
	if err != nil {
		return err
	}
	cmd, err := decodeUpdateCustomer(id, f)
	if err != nil {
		return err
	}
	cu, err := s.app.Commands.UpdateCustomer.Handle(c.Request().Context(), cmd)
	if err != nil {
		return fmt.Errorf("update customer: %w", err)
	}
	return writeCustomer(c, http.StatusOK, cu, "")
}

// handleGetCustomerOrders lists a customer's order summaries, newest first;
// an unknown customer is 404, not an empty list.
func (s *Server) handleGetCustomerOrders(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	orders, served, err := s.app.Queries.CustomerOrders.Handle(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("get customer orders: %w", err)
	}
	body, err := orders.JSON()
	if err != nil {
		return fmt.Errorf("encode customer orders: %w", err)
	}
	return writeReply(c, reply{status: http.StatusOK, encoded: body, xCache: served})
}

// decodeRegisterCustomer reads {email, name}.
func decodeRegisterCustomer(obj jsonObject) (app.RegisterCustomer, error) {
	f := newFieldReader(obj)
	cmd := app.RegisterCustomer{Email: f.requiredString("email"), Name: f.requiredString("name")}
	if f.failed() {
		_, rules := domain.RegisterCustomer("", cmd.Email, cmd.Name)
		return cmd, f.err(rules)
	}
	return cmd, nil
}

// decodeUpdateCustomer reads {email?, name?}; absent fields stay unchanged.
func decodeUpdateCustomer(id string, f fieldReader) (app.UpdateCustomer, error) {
	cmd := app.UpdateCustomer{CustomerID: id, Email: f.optionalString("email"), Name: f.optionalString("name")}
	if f.failed() {
		return cmd, f.err(domain.RestoreCustomer(id, 0, domain.CustomerState{}).UpdateProfile(cmd.Email, cmd.Name))
	}
	return cmd, nil
}

// writeCustomer answers a command's customer; location is set on creation.
func writeCustomer(c echo.Context, status int, cu app.Customer, location string) error {
	return writeReply(c, reply{status: status, body: utcCustomer(cu), etag: versionETag(cu.Version), location: location})
}

func utcCustomer(cu app.Customer) app.Customer {
	cu.CreatedAt, cu.UpdatedAt = cu.CreatedAt.UTC(), cu.UpdatedAt.UTC()
	return cu
}
