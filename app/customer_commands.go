package app

import (
	"context"

	"github.com/orderflow/orderflow/domain"
)

// RegisterCustomer asks for a new customer.
type RegisterCustomer struct {
	Email string
	Name  string
}

// RegisterCustomerHandler registers customers.
type RegisterCustomerHandler struct{ w writer }

// Handle registers the customer and returns the profile.
func (h *RegisterCustomerHandler) Handle(ctx context.Context, cmd RegisterCustomer) (Customer, error) {
	var out Customer
	id := newID()
	err := h.w.update(ctx, func(ctx context.Context, tx Tx) error {
		c, err := domain.RegisterCustomer(id, cmd.Email, cmd.Name)
		if err != nil {
			return err
		}
		if _, err := tx.Save(ctx, c); err != nil {
			return err
		}
		out, err = tx.Customer(ctx, id)
		return err
	})
	return out, err
}

// UpdateCustomer sets a customer's e-mail and name; nil keeps a field.
type UpdateCustomer struct {
	CustomerID string
	Email      *string
	Name       *string
}

// UpdateCustomerHandler updates profiles.
type UpdateCustomerHandler struct{ w writer }

// Handle applies the update and returns the profile. Customers are not
// locked on load: a concurrent update is a version conflict, and re-run.
func (h *UpdateCustomerHandler) Handle(ctx context.Context, cmd UpdateCustomer) (Customer, error) {
	if err := authorizeCustomer(ctx, cmd.CustomerID); err != nil {
		return Customer{}, err
	}
	var out Customer
	err := h.w.update(ctx, func(ctx context.Context, tx Tx) error {
		c, err := tx.LoadCustomer(ctx, cmd.CustomerID)
		if err != nil {
			return err
		}
		if err := c.UpdateProfile(cmd.Email, cmd.Name); err != nil {
			return err
		}
		if _, err := tx.Save(ctx, c); err != nil {
			return err
		}
		out, err = tx.Customer(ctx, cmd.CustomerID)
		return err
	})
	return out, err
}
