package app

import (
	"context"

	"github.com/orderflow/orderflow/domain"
)

// CreateProduct asks for a new catalogue item.
type CreateProduct struct {
	SKU          string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	InitialStock int64
}

// CreateProductHandler creates products.
type CreateProductHandler struct{ w writer }

// Handle creates the product and returns it as stored.
func (h *CreateProductHandler) Handle(ctx context.Context, cmd CreateProduct) (Product, error) {
	var out Product
	id := newID()
	err := h.w.update(ctx, func(ctx context.Context, tx Tx) error {
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

// ChangeProductDetails sets a product's name and description; nil keeps a field.
type ChangeProductDetails struct {
	ProductID   string
	Name        *string
	Description *string
}

// ChangeProductDetailsHandler changes product details.
type ChangeProductDetailsHandler struct{ w writer }

// Handle applies the change and returns the product.
func (h *ChangeProductDetailsHandler) Handle(ctx context.Context, cmd ChangeProductDetails) (Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.ChangeDetails(cmd.Name, cmd.Description)
	})
}

// ChangeProductPrice sets a product's price, in its currency's minor units.
type ChangeProductPrice struct {
	ProductID  string
	PriceCents int64
}

// ChangeProductPriceHandler changes prices.
type ChangeProductPriceHandler struct{ w writer }

// Handle applies the change and returns the product.
func (h *ChangeProductPriceHandler) Handle(ctx context.Context, cmd ChangeProductPrice) (Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.ChangePrice(cmd.PriceCents)
	})
}

// RestockProduct adds units to a product's stock.
type RestockProduct struct {
	ProductID string
	Quantity  int64
}

// RestockProductHandler restocks products.
type RestockProductHandler struct{ w writer }

// Handle adds the stock and returns the product.
func (h *RestockProductHandler) Handle(ctx context.Context, cmd RestockProduct) (Product, error) {
	return updateProduct(ctx, h.w, cmd.ProductID, func(p *domain.Product) error {
		return p.AddStock(cmd.Quantity)
	})
}

// updateProduct loads and locks one product, lets decide record events,
// saves them and returns the product as stored.
func updateProduct(ctx context.Context, w writer, id string, decide func(*domain.Product) error) (Product, error) {
	var out Product
	err := w.update(ctx, func(ctx context.Context, tx Tx) error {
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
