package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// mixTarget is where the mix sends its requests: reads to the reading API,
// writes to the writing one. Anonymous routes go without a token (see
// bearer). Every answered write is recorded for the stale-read check, and
// every read of a judged phase.
type mixTarget struct {
	client            *http.Client
	readURL, writeURL string
	sd                *mixSeed
	// phase labels the reads judged for staleness; "" judges none.
	phase string
	// maxStale, when not 0, is sent as Cache-Control: max-stale on every
	// read, which is judged with that slack; fromL1 counts the answers
	// that say X-Cache: HIT-L1.
	maxStale time.Duration
	fromL1   *atomic.Int64
}

// productAnswer, customerAnswer and orderAnswer are the fields of the
// API's answers that the stale-read check reads.
type (
	productAnswer struct {
		ID         string `json:"id"`
		PriceCents int64  `json:"priceCents"`
		Version    int64  `json:"version"`
	}
	customerAnswer struct {
		Version int64 `json:"version"`
	}
	orderAnswer struct {
		ID         string    `json:"id"`
		CustomerID string    `json:"customerId"`
		Status     string    `json:"status"`
		Version    int64     `json:"version"`
		PlacedAt   time.Time `json:"placedAt"`
	}
)

// send sends one request of the mix.
func (t mixTarget) send(ctx context.Context, op mixOp) error {
	sd := t.sd
	product, customer := sd.products[op.product], sd.customers[op.customer]
	switch op.kind {
	case mixProduct:
		return t.readProducts(ctx, op.kind, "/api/v1/products/"+product)
	case mixProductSKU:
		return t.readProducts(ctx, op.kind, "/api/v1/products/by-sku/"+url.PathEscape(sd.skus[op.product]))
	case mixPageOne:
		return t.readProducts(ctx, op.kind, "/api/v1/products")
	case mixPublic:
		return t.readProducts(ctx, op.kind, "/public/products")
	case mixProfile:
		var c customerAnswer
		sent := time.Now()
		if err := t.get(ctx, "/api/v1/customers/"+customer, &c); err != nil {
			return err
		}
		t.judge(staleRead{kind: op.kind, sent: sent, subject: customer, seen: []seenValue{{version: c.Version}}})
		return nil
	case mixOrders:
		var list struct {
			Items []struct {
				ID       string    `json:"id"`
				Status   string    `json:"status"`
				PlacedAt time.Time `json:"placedAt"`
			} `json:"items"`
		}
		sent := time.Now()
		if err := t.get(ctx, "/api/v1/customers/"+customer+"/orders", &list); err != nil {
			return err
		}
		seen := make([]seenValue, len(list.Items))
		for i, o := range list.Items {
			seen[i] = seenValue{id: o.ID, value: o.Status, placedAt: o.PlacedAt}
		}
		t.judge(staleRead{kind: op.kind, sent: sent, subject: customer, seen: seen})
		return nil
	case mixPlaceOrder:
		type line struct {
			ProductID string `json:"productId"`
			Quantity  int    `json:"quantity"`
		}
		lines := make([]line, len(op.lines))
		for i, p := range op.lines {
			lines[i] = line{ProductID: sd.products[p], Quantity: 1}
		}
		body, _ := json.Marshal(map[string]any{"customerId": customer, "lines": lines})
		_, err := t.placeOrder(ctx, body)
		return err
	case mixProfileUpdate:
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Mix Customer %d, updated %d", op.customer+1, time.Now().UnixNano())})
		var c customerAnswer
		if err := sendJSON(ctx, t.client, http.MethodPatch, t.writeURL, "/api/v1/customers/"+customer, body, http.StatusOK, &c); err != nil {
			return err
		}
		sd.stale.wrote("customer:"+customer, c.Version, "", time.Now())
		return nil
	case mixPriceChange:
		price := sd.stale.price()
		body, _ := json.Marshal(map[string]any{"priceCents": price})
		var p productAnswer
		if err := sendJSON(ctx, t.client, http.MethodPut, t.writeURL, "/api/v1/products/"+product+"/price", body, http.StatusOK, &p); err != nil {
			return err
		}
		sd.stale.wrote("product:"+product, p.Version, priceValue(price), time.Now())
		return nil
	case mixRestock:
		body, _ := json.Marshal(map[string]any{"quantity": op.value})
		return sendJSON(ctx, t.client, http.MethodPost, t.writeURL, "/api/v1/products/"+product+"/stock", body, http.StatusOK, nil)
	}
	return fmt.Errorf("unknown request kind %d", op.kind)
}

// judge records a read for the stale-read check under the target's phase.
// A max-stale read is recorded twice: with its slack, the promise, and as
// if it had been strict (phase + strictSuffix), what the slack bought.
func (t mixTarget) judge(r staleRead) {
	r.phase = t.phase
	if t.maxStale > 0 && t.phase != "" {
		t.sd.stale.read(r)
		r.slack = t.maxStale
		r.phase = t.phase + boundedSuffix
	}
	t.sd.stale.read(r)
}

// get reads path from the reading API into out.
func (t mixTarget) get(ctx context.Context, path string, out any) error {
	cacheControl := ""
	if t.maxStale > 0 {
		cacheControl = fmt.Sprintf("max-stale=%d", int(t.maxStale/time.Second))
	}
	body, xCache, err := getBodyWith(ctx, t.client, t.readURL+path, cacheControl)
	if err != nil {
		return err
	}
	if t.fromL1 != nil && xCache == "HIT-L1" {
		t.fromL1.Add(1)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}

// readProducts reads one product or a page of them and records the prices
// it saw.
func (t mixTarget) readProducts(ctx context.Context, kind mixKind, path string) error {
	var items []productAnswer
	sent := time.Now()
	if kind == mixProduct || kind == mixProductSKU {
		var p productAnswer
		if err := t.get(ctx, path, &p); err != nil {
			return err
		}
		items = []productAnswer{p}
	} else {
		var page struct {
			Items []productAnswer `json:"items"`
		}
		if err := t.get(ctx, path, &page); err != nil {
			return err
		}
		items = page.Items
	}
	seen := make([]seenValue, len(items))
	for i, p := range items {
		seen[i] = seenValue{id: p.ID, value: priceValue(p.PriceCents)}
	}
	t.judge(staleRead{kind: kind, sent: sent, seen: seen})
	return nil
}

// placeOrder places an order and records the answer.
func (t mixTarget) placeOrder(ctx context.Context, body []byte) (orderAnswer, error) {
	var o orderAnswer
	if err := postJSON(ctx, t.client, t.writeURL, "/api/v1/orders", body, &o); err != nil {
		return o, err
	}
	t.sd.stale.placedOrder(o.CustomerID, o.ID, o.Status, o.Version, o.PlacedAt, time.Now())
	return o, nil
}

// transition pays, ships or cancels an order and records the answer.
func (t mixTarget) transition(ctx context.Context, order, action string) (orderAnswer, error) {
	var o orderAnswer
	if err := sendJSON(ctx, t.client, http.MethodPost, t.writeURL, "/api/v1/orders/"+order+"/"+action, nil, http.StatusOK, &o); err != nil {
		return o, err
	}
	t.sd.stale.wrote("order:"+o.ID, o.Version, o.Status, time.Now())
	return o, nil
}
