package main

// One concept, the stale-read check: what was written, what was read, and
// the judgement of each read, which must agree with one another, so they
// stay in one file past 400 lines.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// Stale reads. The cache promises read-your-writes across API processes
// (ADR 5): a command tombstones what it made stale before it answers. So no
// read sent after a write's answer arrived may show what the resource was
// before that write, whichever process serves it. The mix checks the
// promise from outside, with nothing but what the API answered:
//
//   - every write records, once its 2xx answer has arrived, the version it
//     produced and the value it set (a price, an order status) per resource;
//   - every read records when it was sent and the values it saw;
//   - a read is stale when a write to what it shows had been answered
//     before the read was sent, and the read shows a value set by an older
//     version (or, for a customer's order summaries, leaves out an order
//     whose placement had been answered).
//
// Prices are unique over the whole suite (staleCheck.price), so the price a
// read shows names the write that set it, and that write's answer gives its
// version: product details carry the live aggregate version whatever their
// cached price, so a version alone could not tell a stale price apart.
// Times are taken so that an error can only hide a stale read, never invent
// one: a read's send time before the request is handed to the client, a
// write's answer time after its body was read.
type staleCheck struct {
	nextPrice atomic.Int64

	mu sync.Mutex
	// writes holds the answered writes per resource ("product:<id>",
	// "customer:<id>", "order:<id>").
	writes map[string]*writeHistory
	// placed holds each customer's answered placements.
	placed map[string][]placedOrder
	reads  []staleRead
}

// uniquePriceBase is above every seeded price (100–10,099 cents), so a
// price set by the mix is never a product's seeded one.
const uniquePriceBase = 1_000_000

// raceWindow is how soon after a write's answer a read counts as one that
// raced it: the reads most likely to catch a stale entry.
const raceWindow = 100 * time.Millisecond

// writeHistory is what the answered writes did to one resource.
type writeHistory struct {
	acks []versionAck
	// setBy is the version that set each value the resource can show;
	// seeded values are version 0.
	setBy map[string]int64
	// newest[i] is the highest version among acks[:i+1], once sorted.
	newest []int64
}

// versionAck is one answered write: the version it produced and when its
// answer arrived.
type versionAck struct {
	at      time.Time
	version int64
}

// placedOrder is an answered placement.
type placedOrder struct {
	id       string
	placedAt time.Time
	at       time.Time
}

// staleRead is one read the mix judges.
type staleRead struct {
	kind  mixKind
	phase string
	sent  time.Time
	// slack is how much older than the writes answered before sent the
	// read may be: its max-stale bound (0 for a strict read).
	slack time.Duration
	// subject is the customer of a profile or order summaries read.
	subject string
	seen    []seenValue
}

// seenValue is one thing a read showed: a product and its price, an order
// and its status, or a profile's version.
type seenValue struct {
	id       string
	value    string
	version  int64
	placedAt time.Time
}

func newStaleCheck() *staleCheck {
	return &staleCheck{writes: map[string]*writeHistory{}, placed: map[string][]placedOrder{}}
}

// price is a price no write of the suite has set yet.
func (s *staleCheck) price() int64 { return uniquePriceBase + s.nextPrice.Add(1) }

func (s *staleCheck) history(resource string) *writeHistory {
	h := s.writes[resource]
	if h == nil {
		h = &writeHistory{setBy: map[string]int64{}}
		s.writes[resource] = h
	}
	return h
}

// seeded records a value a resource had before the mix wrote to it.
func (s *staleCheck) seeded(resource, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history(resource).setBy[value] = 0
}

// wrote records an answered write that produced version and set value ("" for none).
func (s *staleCheck) wrote(resource string, version int64, value string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.history(resource)
	h.acks = append(h.acks, versionAck{at: at, version: version})
	if value != "" {
		h.setBy[value] = version
	}
}

// placedOrder records an answered placement and the status it produced.
func (s *staleCheck) placedOrder(customer, order, status string, version int64, placedAt, at time.Time) {
	s.wrote("order:"+order, version, status, at)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.placed[customer] = append(s.placed[customer], placedOrder{id: order, placedAt: placedAt, at: at})
}

// read records a read of phase ("" records nothing: reads outside the
// measured phases are not judged).
func (s *staleCheck) read(r staleRead) {
	if r.phase == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, r)
}

// widen adds d to the slack of every read of phase: the backplane's delay
// added to a bounded read's max-stale once the delay is measured.
func (s *staleCheck) widen(phase string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.reads {
		if s.reads[i].phase == phase {
			s.reads[i].slack += d
		}
	}
}

// staleCount is the verdict on one phase's reads of one kind.
type staleCount struct {
	reads int
	// judged reads followed an answered write to what they show; raced
	// ones were sent within raceWindow of the newest such answer.
	judged, raced int
	stale         int
	// unknown reads showed a value no write or seed explains.
	unknown int
	samples []string
}

func (c staleCount) plus(o staleCount) staleCount {
	c.reads += o.reads
	c.judged += o.judged
	c.raced += o.raced
	c.stale += o.stale
	c.unknown += o.unknown
	c.samples = append(slices.Clip(c.samples), o.samples...)
	return c
}

// maxStaleSamples is how many stale reads a phase describes.
const maxStaleSamples = 3

// judge returns the verdicts on every recorded read by phase and kind. It
// runs once every write of the phases has been answered.
func (s *staleCheck) judge() map[string]*[mixKinds]staleCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.writes {
		h.sortAcks()
	}
	for c := range s.placed {
		slices.SortFunc(s.placed[c], func(a, b placedOrder) int { return a.at.Compare(b.at) })
	}
	out := map[string]*[mixKinds]staleCount{}
	for _, r := range s.reads {
		counts := out[r.phase]
		if counts == nil {
			counts = &[mixKinds]staleCount{}
			out[r.phase] = counts
		}
		c := &counts[r.kind]
		c.reads++
		v := s.verdict(r)
		if !v.judged {
			continue
		}
		c.judged++
		if v.gap < raceWindow {
			c.raced++
		}
		switch {
		case v.stale != "":
			c.stale++
			if len(c.samples) < maxStaleSamples {
				c.samples = append(c.samples, fmt.Sprintf("%s %s", mixSpecs()[r.kind].name, v.stale))
			}
		case v.unknown:
			c.unknown++
		}
	}
	return out
}

// sortAcks orders the answers by arrival and notes the highest version so far.
func (h *writeHistory) sortAcks() {
	slices.SortFunc(h.acks, func(a, b versionAck) int { return a.at.Compare(b.at) })
	h.newest = make([]int64, len(h.acks))
	var top int64
	for i, a := range h.acks {
		top = max(top, a.version)
		h.newest[i] = top
	}
}

// before is the highest version of the writes answered before t and the
// arrival of the newest of those answers; ok is false when none was.
func (h *writeHistory) before(t time.Time) (version int64, at time.Time, ok bool) {
	if h == nil {
		return 0, time.Time{}, false
	}
	n := sort.Search(len(h.acks), func(i int) bool { return !h.acks[i].at.Before(t) })
	if n == 0 {
		return 0, time.Time{}, false
	}
	return h.newest[n-1], h.acks[n-1].at, true
}

// verdict is the judgement of one read.
type verdict struct {
	judged  bool
	gap     time.Duration // from the newest answer before the read to its send
	stale   string        // what was stale, "" when nothing
	unknown bool
}

// saw folds one judged value into the read's verdict.
func (v *verdict) saw(gap time.Duration, stale string, unknown bool) {
	if !v.judged || gap < v.gap {
		v.gap = gap
	}
	v.judged = true
	if v.stale == "" {
		v.stale = stale
	}
	v.unknown = v.unknown || unknown
}

func (s *staleCheck) verdict(r staleRead) verdict {
	var v verdict
	// A bounded read is judged as a strict read sent slack earlier.
	r.sent = r.sent.Add(-r.slack)
	switch r.kind {
	case mixProduct, mixProductSKU, mixPageOne, mixPublic:
		for _, p := range r.seen {
			h := s.writes["product:"+p.id]
			want, at, ok := h.before(r.sent)
			if !ok {
				continue
			}
			got, known := h.setBy[p.value]
			stale := ""
			if known && got < want {
				stale = fmt.Sprintf("sent %s after the answer to a price change of product %s (version %d) showed price %s of version %d",
					r.sent.Sub(at).Round(time.Microsecond), p.id, want, p.value, got)
			}
			v.saw(r.sent.Sub(at), stale, !known)
		}
	case mixProfile:
		want, at, ok := s.writes["customer:"+r.subject].before(r.sent)
		if ok && len(r.seen) == 1 {
			stale := ""
			if got := r.seen[0].version; got < want {
				stale = fmt.Sprintf("of customer %s sent %s after the answer to an update (version %d) showed version %d",
					r.subject, r.sent.Sub(at).Round(time.Microsecond), want, got)
			}
			v.saw(r.sent.Sub(at), stale, false)
		}
	case mixOrders:
		listed := make(map[string]seenValue, len(r.seen))
		for _, o := range r.seen {
			listed[o.id] = o
		}
		for _, p := range s.placed[r.subject] {
			if !p.at.Before(r.sent) {
				break
			}
			h := s.writes["order:"+p.id]
			want, at, _ := h.before(r.sent)
			o, ok := listed[p.id]
			stale, unknown := "", false
			switch {
			case !ok && !crowdedOut(p, r.seen):
				stale = fmt.Sprintf("of customer %s sent %s after the answer to the placement of order %s left it out",
					r.subject, r.sent.Sub(p.at).Round(time.Microsecond), p.id)
			case ok:
				got, known := h.setBy[o.value]
				unknown = !known
				if known && got < want {
					stale = fmt.Sprintf("of customer %s sent %s after an answer gave order %s version %d showed it %s (version %d)",
						r.subject, r.sent.Sub(at).Round(time.Microsecond), p.id, want, o.value, got)
				}
			}
			v.saw(r.sent.Sub(at), stale, unknown)
		}
	}
	return v
}

// crowdedOut reports that an order is rightly missing from a full list of
// summaries: the list holds only the newest app.CustomerOrdersLimit, and
// the order is not newer than the oldest listed one (a millisecond of
// slack for the times' rounding).
func crowdedOut(p placedOrder, listed []seenValue) bool {
	if len(listed) < app.CustomerOrdersLimit {
		return false
	}
	oldest := listed[len(listed)-1].placedAt
	return !p.placedAt.After(oldest.Add(time.Millisecond))
}

// staleText describes the verdicts of a phase, kind by kind.
func staleText(counts *[mixKinds]staleCount) string {
	if counts == nil {
		return "no reads"
	}
	var parts []string
	for k, s := range mixSpecs() {
		c := counts[k]
		if s.write || c.reads == 0 {
			continue
		}
		part := fmt.Sprintf("%s %d stale of %s judged (%s within %s of the write's answer; %s reads)", s.name, c.stale,
			thousands(float64(c.judged)), thousands(float64(c.raced)), raceWindow, thousands(float64(c.reads)))
		if c.unknown > 0 {
			part += fmt.Sprintf(", %d showing a value no write explains", c.unknown)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// priceValue is how prices are recorded.
func priceValue(cents int64) string { return strconv.FormatInt(cents, 10) }

// Shape of the race that follows each window of the mix: its writes reach
// page one in the mix only when a price change happens to draw one of its
// 20 products, a few times a minute at most, so the race makes them the
// norm on a handful of products and customers, in a closed loop.
const (
	raceProducts  = 4
	raceCustomers = 4
)

// raceConflictRetries bounds how often the race retries a profile update
// answered 409: customers are not locked on load (a concurrent update is a
// version conflict the API re-runs a few times), so many clients on a few
// customers can outlast the API's re-runs, and the answer says to retry.
const raceConflictRetries = 5

// raceOrder is the order a race client is moving along its lifecycle.
type raceOrder struct{ id, status string }

// runStaleRace runs e.cfg.Clients clients for the race's length against
// raceProducts products of page one and raceCustomers customers: per 100
// requests, 20 price changes, 4 profile updates, 8 order placements,
// payments, shipments or cancellations, and 68 reads of every judged kind;
// each price change and profile update is read back by its client at once.
// conflicts counts the profile updates answered 409 and retried. When
// bounded is not nil, a quarter of the reads go through it instead (reads
// that ask for bounded staleness, judged apart).
func runStaleRace(ctx context.Context, e *env, t mixTarget, bounded *mixTarget) (res *loadResult, conflicts int64, err error) {
	var page struct {
		Items []productAnswer `json:"items"`
	}
	if err := t.get(ctx, "/api/v1/products", &page); err != nil {
		return nil, 0, fmt.Errorf("race: page one: %w", err)
	}
	index := make(map[string]int, len(t.sd.products))
	for i, p := range t.sd.products {
		index[p] = i
	}
	// Spread over the page: its first and last items sit where a fill and
	// an eviction of the list would differ most.
	var hot []int
	for i := range raceProducts {
		if n := len(page.Items); n > 0 {
			if p, ok := index[page.Items[i*(n-1)/max(raceProducts-1, 1)].ID]; ok && !slices.Contains(hot, p) {
				hot = append(hot, p)
			}
		}
	}
	if len(hot) == 0 {
		return nil, 0, fmt.Errorf("race: page one holds none of the seeded products (%d items)", len(page.Items))
	}
	customers := min(raceCustomers, len(t.sd.customers))
	orders := make([]raceOrder, e.cfg.Clients)
	e.printf("%s: %d clients for %s on %d products of page one and %d customers", t.phase, e.cfg.Clients, e.cfg.MixRace(), len(hot), customers)
	var retried atomic.Int64
	specs := mixSpecs()
	res, err = runClosedLoop(ctx, e.out, t.phase, e.cfg.Clients, e.cfg.MixRace(), e.cfg.ProgressPeriod, func(ctx context.Context, worker int, rng *rand.Rand) error {
		op := mixOp{product: hot[rng.IntN(len(hot))], customer: rng.IntN(customers)}
		switch pick := rng.IntN(100); {
		case pick < 20:
			op.kind = mixPriceChange
			if err := t.send(ctx, op); err != nil {
				return err
			}
			return t.readBack(ctx, op, mixProduct)
		case pick < 24:
			op.kind = mixProfileUpdate
			err := t.send(ctx, op)
			for i := 0; i < raceConflictRetries && isConflict(err); i++ {
				retried.Add(1)
				err = t.send(ctx, op)
			}
			if err != nil {
				return err
			}
			return t.readBack(ctx, op, mixProfile)
		case pick < 32:
			return t.advanceOrder(ctx, &orders[worker], op, hot, rng)
		case pick < 44:
			op.kind = mixProduct
		case pick < 56:
			op.kind = mixProductSKU
		case pick < 70:
			op.kind = mixPageOne
		case pick < 82:
			op.kind = mixPublic
		case pick < 90:
			op.kind = mixProfile
		default:
			op.kind = mixOrders
		}
		if bounded != nil && !specs[op.kind].write && rng.IntN(4) == 0 {
			return bounded.send(ctx, op)
		}
		return t.send(ctx, op)
	})
	return res, retried.Load(), err
}

// readBack reads what op wrote at once, as kind, from the reading API: the
// read most likely to race the write's eviction there (the tombstone in
// Redis; the backplane and the version check for a near cache), since the
// rest of the race reads at random.
func (t mixTarget) readBack(ctx context.Context, op mixOp, kind mixKind) error {
	op.kind = kind
	return t.send(ctx, op)
}

// isConflict reports a 409 answer.
func isConflict(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == http.StatusConflict
}

// advanceOrder moves a race client's order one step: placed (1–2 hot
// products), then paid, then shipped or cancelled, then a new one. Each
// client owns its order, so no transition races another and every one is
// legal.
func (t mixTarget) advanceOrder(ctx context.Context, o *raceOrder, op mixOp, hot []int, rng *rand.Rand) error {
	var (
		a   orderAnswer
		err error
	)
	switch o.status {
	case string(domain.OrderPlacedStatus):
		a, err = t.transition(ctx, o.id, "pay")
	case string(domain.OrderPaidStatus):
		a, err = t.transition(ctx, o.id, []string{"ship", "cancel"}[rng.IntN(2)])
	default:
		lines := []map[string]any{{"productId": t.sd.products[op.product], "quantity": 1}}
		if other := hot[rng.IntN(len(hot))]; other != op.product {
			lines = append(lines, map[string]any{"productId": t.sd.products[other], "quantity": 1})
		}
		body, _ := json.Marshal(map[string]any{"customerId": t.sd.customers[op.customer], "lines": lines})
		a, err = t.placeOrder(ctx, body)
	}
	if err != nil {
		// Start afresh: a lost answer leaves the order's state unknown.
		*o = raceOrder{}
		return err
	}
	*o = raceOrder{id: a.ID, status: a.Status}
	return nil
}
