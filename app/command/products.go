package command

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// CreateProductHandler creates products.
type CreateProductHandler struct{ w writer }

// Handle creates the product and returns it as stored.
func (h *CreateProductHandler) Handle(ctx context.Context, cmd app.CreateProduct) (app.Product, error) {
	var out app.Product
	id := newID()
	err := h.w.update(ctx, func(ctx context.Context, tx app.Tx) error {
		p, err := domain.CreateProduct(id, cmd.SKU, cmd.Name, cmd.Description, cmd.PriceCents, cmd.Currency, cmd.InitialStock)
		if err != nil {
			return err
		}
		if _, err := tx.Save(ctx, p); err != nil {
			return err
		}
		out, err = tx.Product(ctx, id)
		return err
	})
	return out, err
}

// ChangeProductDetailsHandler changes product details.
type ChangeProductDetailsHandler struct{ w writer }

// Handle applies the change and returns the product.
func (h *ChangeProductDetailsHandler) Handle(ctx context.Context, cmd app.ChangeProductDetails) (app.Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.ChangeDetails(cmd.Name, cmd.Description)
	})
}

// ChangeProductPriceHandler changes prices.
type ChangeProductPriceHandler struct{ w writer }

// Handle applies the change and returns the product.
func (h *ChangeProductPriceHandler) Handle(ctx context.Context, cmd app.ChangeProductPrice) (app.Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.ChangePrice(cmd.PriceCents)
	})
}

// RestockProductHandler restocks products.
type RestockProductHandler struct{ w writer }

// Handle adds the stock and returns the product.
func (h *RestockProductHandler) Handle(ctx context.Context, cmd app.RestockProduct) (app.Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.AddStock(cmd.Quantity)
	})
}

// updateProduct loads and locks one product, lets decide record events,
// saves them and returns the product as stored.
func updateProduct(ctx context.Context, w writer, id string, decide func(*domain.Product) error) (app.Product, error) {
	var out app.Product
	err := w.update(ctx, func(ctx context.Context, tx app.Tx) error {
		products, err := tx.LoadProducts(ctx, id)
		if err != nil {
			return err
		}
		p := products[id]
		if err := decide(p); err != nil {
			return err
		}
		if _, err := tx.Save(ctx, p); err != nil {
			return err
		}
		out, err = tx.Product(ctx, id)
		return err
	})
	return out, err
}
