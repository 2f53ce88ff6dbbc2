package command

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// RegisterCustomerHandler registers customers.
type RegisterCustomerHandler struct{ w writer }

// Handle registers the customer and returns the profile.
func (h *RegisterCustomerHandler) Handle(ctx context.Context, cmd app.RegisterCustomer) (app.Customer, error) {
	var out app.Customer
	id := newID()
	err := h.w.update(ctx, func(ctx context.Context, tx app.Tx) error {
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

// UpdateCustomerHandler updates profiles.
type UpdateCustomerHandler struct{ w writer }

// Handle applies the update and returns the profile. Customers are not
// locked on load: a concurrent update is a version conflict, and re-run.
func (h *UpdateCustomerHandler) Handle(ctx context.Context, cmd app.UpdateCustomer) (app.Customer, error) {
	if err := app.AuthorizeCustomer(ctx, cmd.CustomerID); err != nil {
		return app.Customer{}, err
	}
	var out app.Customer
	err := h.w.update(ctx, func(ctx context.Context, tx app.Tx) error {
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
