package projections

// Replay and its fold share this file: the fold is the replay's own copy of
// the read models, used by nothing else, and docs/adr/0013-layout.md names
// this file as where a new event type's fold goes. Together they pass 400
// lines.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/effects"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
)

// ReplaySource reads the log for a replay: the streams or the event store.
type ReplaySource interface {
	// Name says where events come from, for progress lines.
	Name() string
	// Estimate is roughly how many events there are, for the ETA.
	Estimate(ctx context.Context) (int64, error)
	// Read returns up to limit events after cursor ("" = the start) and the
	// cursor after them; an empty batch means the source is exhausted for now.
	Read(ctx context.Context, cursor string, limit int) ([]app.RecordedEvent, string, error)
}

// GenerationControl moves the generation pointers and removes a generation's keys.
type GenerationControl interface {
	SetPointer(ctx context.Context, key, value string) error
	DeletePointer(ctx context.Context, key string) error
	// DeletePrefix removes every key under prefix; it returns how many.
	DeletePrefix(ctx context.Context, prefix string) (int64, error)
}

// ErrReplayGap means the source lacks part of the log: an aggregate's
// versions skip, or a stream lost entries (trimmed, deleted) and with them
// possibly whole aggregates. The replay must read the event store instead.
var ErrReplayGap = errors.New("the streams do not hold the whole log")

// CreationLog tells a replay from the streams where aggregates begin in the
// event store, so that a stream that lost every event of some aggregates
// (which leaves no gap in any version the replay sees) is noticed.
// Implemented by adapters/postgres.
type CreationLog interface {
	// FirstCreated returns the first aggregate of aggregateType, in commit
	// order, whose first event is before `before` and for which keep holds;
	// found is false when there is none.
	FirstCreated(ctx context.Context, aggregateType string, before relay.LogPosition, keep func(aggregateID string) bool) (id string, at relay.LogPosition, found bool, err error)
}

// ReplayProgress is reported after every batch.
type ReplayProgress struct {
	Source   string
	Events   int64
	Estimate int64
	Elapsed  time.Duration
}

// Rate is events per second so far.
func (p ReplayProgress) Rate() float64 { return float64(p.Events) / max(p.Elapsed.Seconds(), 1e-9) }

// ETA is the estimated time left, 0 when unknown or done.
func (p ReplayProgress) ETA() time.Duration {
	if p.Estimate <= p.Events || p.Rate() == 0 {
		return 0
	}
	return time.Duration(float64(p.Estimate-p.Events) / p.Rate() * float64(time.Second))
}

// ReplaySummary is what a replay did.
type ReplaySummary struct {
	Source     string
	Generation string
	Previous   string
	Events     int64
	Written    int64
	Elapsed    time.Duration
	// Rebuild is the time spent reading and writing, without the waits for
	// every process to see a pointer change.
	Rebuild        time.Duration
	DeletedOldKeys int64
}

// ReplayConfig tunes a replay.
type ReplayConfig struct {
	BatchSize int
	// Grace is how long the replay waits for every process to see a
	// generation pointer change; a few cache.GenerationRefresh periods.
	Grace    time.Duration
	Progress func(ReplayProgress)
	// Phase, when set, is told each phase as it begins (the Phase* names).
	Phase func(phase string)
	// Now names the new generation; a field so tests can fix it.
	Now func() time.Time
}

func (c *ReplayConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 5000
	}
	if c.Grace == 0 {
		c.Grace = 3 * cache.GenerationRefresh
	}
	if c.Progress == nil {
		c.Progress = func(ReplayProgress) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Phase == nil {
		c.Phase = func(string) {}
	}
}

// Replay phases, as ReplayConfig.Phase is told them.
const (
	// PhaseOpen: live writers start writing the next generation too.
	PhaseOpen = "opening"
	// PhaseRebuild: the source is read and folded into the next generation.
	PhaseRebuild = "rebuilding"
	// PhaseSwitch: readers move to the new generation.
	PhaseSwitch = "switching"
	// PhaseCleanup: the old generation's keys are deleted.
	PhaseCleanup = "cleanup"
)

// Replay rebuilds every cached projection into a new key generation from
// source, while readers keep using the current one and live projectors write
// to both; it catches up with events committed meanwhile, switches readers
// atomically, then deletes the old generation. A gap in the source fails
// with ErrReplayGap before anything is switched.
func Replay(ctx context.Context, c *cache.Cache, control GenerationControl, source ReplaySource, cfg ReplayConfig) (ReplaySummary, error) {
	cfg.setDefaults()
	start := cfg.Now()
	if err := c.RefreshGenerations(ctx); err != nil {
		return ReplaySummary{}, fmt.Errorf("read generation: %w", err)
	}
	sum := ReplaySummary{
		Source:     source.Name(),
		Previous:   c.Generation(),
		Generation: "g" + strconv.FormatInt(start.UnixMilli(), 36),
	}
	keys := c.Keys()
	if err := control.SetPointer(ctx, keys.NextGeneration(), sum.Generation); err != nil {
		return sum, err
	}
	abandon := func(err error) (ReplaySummary, error) {
		_ = control.DeletePointer(context.WithoutCancel(ctx), keys.NextGeneration())
		_, _ = control.DeletePrefix(context.WithoutCancel(ctx), keys.Key(sum.Generation, cache.Key{}))
		return sum, err
	}
	// From here on live writers also write the next generation.
	cfg.Phase(PhaseOpen)
	if err := sleepCtx(ctx, cfg.Grace); err != nil {
		return abandon(err)
	}
	cfg.Phase(PhaseRebuild)
	estimate, _ := source.Estimate(ctx)
	rebuildStart := time.Now()
	f := newFold()
	cursor := ""
	for {
		events, next, err := source.Read(ctx, cursor, cfg.BatchSize)
		if err != nil {
			return abandon(err)
		}
		for _, r := range events {
			if err := f.apply(r); err != nil {
				return abandon(err)
			}
		}
		sum.Events += int64(len(events))
		cfg.Progress(ReplayProgress{Source: sum.Source, Events: sum.Events, Estimate: estimate, Elapsed: time.Since(rebuildStart)})
		n, err := f.write(ctx, c, sum.Generation)
		sum.Written += n
		if err != nil {
			return abandon(err)
		}
		cursor = next
		if len(events) == 0 {
			break // caught up: what commits from now on, live projectors write to both generations
		}
	}
	sum.Rebuild = time.Since(rebuildStart)
	cfg.Phase(PhaseSwitch)
	if err := control.SetPointer(ctx, keys.Generation(), sum.Generation); err != nil {
		return abandon(err)
	}
	// Readers switch within a refresh; writers keep writing both until all did.
	if err := sleepCtx(ctx, cfg.Grace); err != nil {
		return sum, err
	}
	if err := control.DeletePointer(ctx, keys.NextGeneration()); err != nil {
		return sum, err
	}
	if err := sleepCtx(ctx, cfg.Grace); err != nil {
		return sum, err
	}
	cfg.Phase(PhaseCleanup)
	for _, family := range []string{"products:", "customers:", "orders:customer:", "http:", "tag:"} {
		n, err := control.DeletePrefix(ctx, keys.Key(sum.Previous, cache.Key{Name: family}))
		sum.DeletedOldKeys += n
		if err != nil {
			return sum, fmt.Errorf("delete old generation: %w", err)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fold rebuilds the cached read models from events alone, as the live
// projectors' reads of the read tables would show them: the catalogue's
// version counts product changes but stock, a customer's orders version
// counts their orders' events, exactly as the write side bumps them.
type fold struct {
	versions       map[string]int64
	products       map[string]*app.Product
	customers      map[string]*app.Customer
	orderCustomer  map[string]string
	summaries      map[string]map[string]*app.OrderSummary
	ordersVersion  map[string]int64
	catalogVersion int64
	// detailsVersions is each product's version at its last catalogue change.
	detailsVersions map[string]int64

	dirtyProducts, dirtyCustomers, dirtyOrders map[string]bool
	dirtyCatalog                               bool
}

func newFold() *fold {
	return &fold{
		versions: map[string]int64{}, products: map[string]*app.Product{}, customers: map[string]*app.Customer{}, detailsVersions: map[string]int64{},
		orderCustomer: map[string]string{}, summaries: map[string]map[string]*app.OrderSummary{}, ordersVersion: map[string]int64{},
		dirtyProducts: map[string]bool{}, dirtyCustomers: map[string]bool{}, dirtyOrders: map[string]bool{},
	}
}

// apply folds one event; duplicates are skipped, a skipped version is a gap.
func (f *fold) apply(r app.RecordedEvent) error {
	last := f.versions[r.AggregateID]
	if r.Version <= last {
		return nil
	}
	if r.Version != last+1 {
		return fmt.Errorf("%w: %s %s jumps from version %d to %d", ErrReplayGap, r.AggregateType, r.AggregateID, last, r.Version)
	}
	f.versions[r.AggregateID] = r.Version
	id, at := r.AggregateID, r.OccurredAt.UTC()
	customerID, err := f.state(r, id, at)
	if err != nil {
		return err
	}
	// What the event dirtied, as the effects table says.
	fx := effects.Of(r.Event.EventName())
	if fx.Has(effects.ProductDetails) {
		f.products[id].UpdatedAt = at
		f.detailsVersions[id] = r.Version
		f.dirtyProducts[id] = true
	}
	if fx.Has(effects.Catalogue) {
		f.catalogVersion++
		f.dirtyCatalog = true
	}
	if fx.Has(effects.CustomerProfile) {
		f.dirtyCustomers[id] = true
	}
	if fx.Has(effects.CustomerOrders) {
		f.ordersVersion[customerID]++
		f.dirtyOrders[customerID] = true
	}
	return nil
}

// state folds the event into the fold's copies of the read models; for an
// order event it returns the order's customer.
func (f *fold) state(r app.RecordedEvent, id string, at time.Time) (customerID string, err error) {
	product := func() *app.Product {
		p := f.products[id]
		if p == nil {
			p = &app.Product{ID: id}
			f.products[id] = p
		}
		p.Version = r.Version
		return p
	}
	switch e := r.Event.(type) {
	case domain.ProductCreated:
		p := product()
		p.SKU, p.Name, p.Description, p.PriceCents, p.Currency, p.CreatedAt = e.SKU, e.Name, e.Description, e.Price.Amount, e.Price.Currency, at
	case domain.ProductDetailsChanged:
		p := product()
		p.Name, p.Description = e.Name, e.Description
	case domain.ProductPriceChanged:
		p := product()
		p.PriceCents = e.PriceCents
	case domain.StockAdded, domain.StockReserved, domain.StockReleased:
		product()
	case domain.CustomerRegistered:
		f.customers[id] = &app.Customer{ID: id, Email: e.Email, Name: e.Name, Version: r.Version, CreatedAt: at, UpdatedAt: at}
	case domain.CustomerProfileUpdated:
		c := f.customers[id]
		if c == nil {
			return "", fmt.Errorf("%w: customer %s updated before it was registered", ErrReplayGap, id)
		}
		c.Email, c.Name, c.Version, c.UpdatedAt = e.Email, e.Name, r.Version, at
	case domain.OrderPlaced:
		state := domain.OrderState{Lines: e.Lines}
		f.orderCustomer[id] = e.CustomerID
		if f.summaries[e.CustomerID] == nil {
			f.summaries[e.CustomerID] = map[string]*app.OrderSummary{}
		}
		f.summaries[e.CustomerID][id] = &app.OrderSummary{
			ID: id, Status: string(domain.OrderPlacedStatus), TotalCents: state.TotalCents(),
			Currency: e.Currency, ItemCount: state.ItemCount(), PlacedAt: at,
		}
		return e.CustomerID, nil
	case domain.OrderPaid:
		return f.setStatus(id, domain.OrderPaidStatus)
	case domain.OrderShipped:
		return f.setStatus(id, domain.OrderShippedStatus)
	case domain.OrderCancelled:
		return f.setStatus(id, domain.OrderCancelledStatus)
	}
	return "", nil
}

func (f *fold) setStatus(orderID string, status domain.OrderStatus) (customerID string, err error) {
	customerID, ok := f.orderCustomer[orderID]
	if !ok {
		return "", fmt.Errorf("%w: order %s changed before it was placed", ErrReplayGap, orderID)
	}
	f.summaries[customerID][orderID].Status = string(status)
	return customerID, nil
}

// write stores every projection changed since the last write into gen,
// fenced by version, and returns how many keys it wrote.
func (f *fold) write(ctx context.Context, c *cache.Cache, gen string) (int64, error) {
	var writes []cache.FencedWrite
	set := func(key cache.Key, version int64, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key.Name, err)
		}
		writes = append(writes, cache.FencedWrite{Key: c.Keys().Key(gen, key), Version: version, Data: data, TTL: key.Family.JitteredTTL()})
		return nil
	}
	n := func() int64 { return int64(len(writes)) }
	for id := range f.dirtyProducts {
		p := *f.products[id]
		if err := set(cache.ProductKey(id), p.Version, p); err != nil {
			return n(), err
		}
		if err := set(cache.ProductSKUKey(p.SKU), p.Version, p); err != nil {
			return n(), err
		}
	}
	if f.dirtyCatalog {
		if err := set(cache.ProductListKey(), f.catalogVersion, f.pageOne()); err != nil {
			return n(), err
		}
	}
	for id := range f.dirtyCustomers {
		cust := f.customers[id]
		if err := set(cache.CustomerKey(id), cust.Version, *cust); err != nil {
			return n(), err
		}
	}
	for customerID := range f.dirtyOrders {
		if err := set(cache.CustomerOrdersKey(customerID), f.ordersVersion[customerID], f.customerOrders(customerID)); err != nil {
			return n(), err
		}
	}
	// Pipelined in chunks: one round trip per chunk instead of per key.
	const chunk = 1000
	for start := 0; start < len(writes); start += chunk {
		if err := c.SetFencedMany(ctx, writes[start:min(start+chunk, len(writes))]); err != nil {
			return int64(start), fmt.Errorf("write generation %s: %w", gen, err)
		}
	}
	clear(f.dirtyProducts)
	clear(f.dirtyCustomers)
	clear(f.dirtyOrders)
	f.dirtyCatalog = false
	return n(), nil
}

// pageOne is the list's first page, ordered by name then id.
func (f *fold) pageOne() app.ProductPage {
	all := make([]*app.Product, 0, len(f.products))
	for _, p := range f.products {
		if p.SKU != "" {
			all = append(all, p)
		}
	}
	slices.SortFunc(all, func(a, b *app.Product) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	page := app.ProductPage{Items: []app.ProductListItem{}, Page: 1, PageSize: app.DefaultPageSize, TotalCount: int64(len(all))}
	for _, p := range all[:min(len(all), app.DefaultPageSize)] {
		page.Items = append(page.Items, app.ProductListItem{
			ID: p.ID, SKU: p.SKU, Name: p.Name, Description: p.Description, PriceCents: p.PriceCents,
			Currency: p.Currency, Version: f.detailsVersions[p.ID], CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		})
	}
	return page
}

// customerOrders are a customer's newest summaries, newest first.
func (f *fold) customerOrders(customerID string) app.CustomerOrders {
	all := make([]app.OrderSummary, 0, len(f.summaries[customerID]))
	for _, s := range f.summaries[customerID] {
		all = append(all, *s)
	}
	slices.SortFunc(all, func(a, b app.OrderSummary) int {
		return cmp.Or(b.PlacedAt.Compare(a.PlacedAt), cmp.Compare(b.ID, a.ID))
	})
	return app.CustomerOrders{Items: all[:min(len(all), app.CustomerOrdersLimit)]}
}
