package systemtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/relay"
)

// Checker compares what the system stored with what it was told: the event
// log against the streams, the read tables against the log, and both
// against the writes the load generator saw acknowledged.
type Checker struct {
	Pool  *pgxpool.Pool
	Redis redis.UniversalClient
	Keys  streams.Keys
}

// StreamReport is the streams compared with the event log by event id.
type StreamReport struct {
	Events     int // committed events in the log
	Missing    int // committed events in no stream
	Duplicates int // stream entries repeating an event already seen
	Foreign    int // stream entries whose event is not in the log
	OutOfOrder int // entries whose aggregate version is not above the previous one
}

// OK reports that every committed event is in its stream once, in order,
// and nothing else is. A duplicate is a failure too: the relay moves its
// checkpoint in the same script that appends a batch, so it never has a
// reason to publish an event twice, and projectors would otherwise only
// hide the defect behind their version fences.
func (r StreamReport) OK() bool {
	return r.Missing == 0 && r.Duplicates == 0 && r.Foreign == 0 && r.OutOfOrder == 0
}

func (r StreamReport) String() string {
	return fmt.Sprintf("%d events: %d missing, %d duplicated, %d foreign, %d out of order",
		r.Events, r.Missing, r.Duplicates, r.Foreign, r.OutOfOrder)
}

// Streams reads the whole log and every stream and compares them.
func (c Checker) Streams(ctx context.Context) (StreamReport, error) {
	type logged struct {
		aggregateID string
		version     int64
	}
	log := map[string]logged{}
	rows, err := c.Pool.Query(ctx, `SELECT event_id::text, stream_id::text, version FROM events`)
	if err != nil {
		return StreamReport{}, fmt.Errorf("read the log: %w", err)
	}
	for rows.Next() {
		var id string
		var l logged
		if err := rows.Scan(&id, &l.aggregateID, &l.version); err != nil {
			rows.Close()
			return StreamReport{}, err
		}
		log[id] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return StreamReport{}, fmt.Errorf("read the log: %w", err)
	}
	r := StreamReport{Events: len(log)}
	seen := make(map[string]bool, len(log))
	unmarshaller := redisstream.DefaultMarshallerUnmarshaller{}
	for _, stream := range c.Keys.EventStreams() {
		last := map[string]int64{}
		for start := "-"; ; {
			msgs, err := c.Redis.XRangeN(ctx, stream, start, "+", 5000).Result()
			if err != nil {
				return r, fmt.Errorf("read %s: %w", stream, err)
			}
			for _, m := range msgs {
				msg, err := unmarshaller.Unmarshal(m.Values)
				if err != nil {
					return r, fmt.Errorf("%s entry %s: %w", stream, m.ID, err)
				}
				l, ok := log[msg.UUID]
				switch {
				case !ok:
					r.Foreign++
					continue
				case seen[msg.UUID]:
					r.Duplicates++
					continue
				}
				seen[msg.UUID] = true
				if l.version <= last[l.aggregateID] {
					r.OutOfOrder++
				}
				last[l.aggregateID] = l.version
			}
			if len(msgs) < 5000 {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
	}
	r.Missing = len(log) - len(seen)
	return r, nil
}

// RelayCaughtUp reports whether the relay's checkpoint (every shard's) is
// at the last committed event, and the positions.
func (c Checker) RelayCaughtUp(ctx context.Context) (bool, string, error) {
	var tx, pos int64
	err := c.Pool.QueryRow(ctx, `SELECT tx_id::text::bigint, global_position FROM events
		ORDER BY tx_id DESC, global_position DESC LIMIT 1`).Scan(&tx, &pos)
	if err != nil {
		return false, "", fmt.Errorf("last committed event: %w", err)
	}
	last := relay.LogPosition{TxID: uint64(tx), Position: pos}.String()
	ok := true
	var cps []string
	for shard := range c.Keys.Shards() {
		cp, err := c.Redis.Get(ctx, c.Keys.ShardCheckpoint(shard)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, "", fmt.Errorf("relay checkpoint of shard %d: %w", shard, err)
		}
		ok = ok && cp == last
		cps = append(cps, fmt.Sprintf("%q", cp))
	}
	return ok, fmt.Sprintf("checkpoints %s, last committed %s", strings.Join(cps, " "), last), nil
}

// ProjectorsCaughtUp reports whether the consumer group has been delivered
// every stream's last entry and has nothing pending.
func (c Checker) ProjectorsCaughtUp(ctx context.Context) (bool, string, error) {
	var state []string
	ok := true
	for _, stream := range c.Keys.EventStreams() {
		lastEntry, err := c.Redis.XRevRangeN(ctx, stream, "+", "-", 1).Result()
		if err != nil {
			return false, "", fmt.Errorf("read %s: %w", stream, err)
		}
		if len(lastEntry) == 0 {
			continue
		}
		groups, err := c.Redis.XInfoGroups(ctx, stream).Result()
		if err != nil {
			ok = false
			state = append(state, fmt.Sprintf("%s: %v", stream, err))
			continue
		}
		i := slices.IndexFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == streams.DefaultConsumerGroup })
		if i < 0 {
			ok = false
			state = append(state, stream+": no consumer group")
			continue
		}
		g := groups[i]
		if g.Pending != 0 || g.LastDeliveredID != lastEntry[0].ID {
			ok = false
		}
		state = append(state, fmt.Sprintf("%s: delivered %s of %s, %d pending", stream, g.LastDeliveredID, lastEntry[0].ID, g.Pending))
	}
	return ok, strings.Join(state, "; "), nil
}

// StockReport lists the products whose stock does not add up.
type StockReport struct {
	Products   int
	Mismatched []string
}

// Stock checks for every product that the read table's stock level equals
// initial + restocked − reserved + released from the event log, and that
// the log's reservations and releases equal the order lines of all orders
// and of the cancelled ones.
func (c Checker) Stock(ctx context.Context) (StockReport, error) {
	rows, err := c.Pool.Query(ctx, `
WITH l AS (
	SELECT stream_id AS id,
		sum(CASE event_type WHEN 'ProductCreated' THEN (data->>'initialStock')::bigint ELSE 0 END) AS initial,
		sum(CASE event_type WHEN 'StockAdded' THEN (data->>'quantity')::bigint ELSE 0 END) AS added,
		sum(CASE event_type WHEN 'StockReserved' THEN (data->>'quantity')::bigint ELSE 0 END) AS reserved,
		sum(CASE event_type WHEN 'StockReleased' THEN (data->>'quantity')::bigint ELSE 0 END) AS released
	FROM events WHERE stream_type = 'product' GROUP BY stream_id
), o AS (
	SELECT ol.product_id AS id, sum(ol.quantity) AS ordered,
		coalesce(sum(ol.quantity) FILTER (WHERE o.status = 'cancelled'), 0) AS cancelled
	FROM order_lines ol JOIN orders o ON o.id = ol.order_id GROUP BY ol.product_id
)
SELECT p.id::text, p.stock_level, coalesce(l.initial, 0), coalesce(l.added, 0), coalesce(l.reserved, 0),
	coalesce(l.released, 0), coalesce(o.ordered, 0), coalesce(o.cancelled, 0)
FROM products p LEFT JOIN l USING (id) LEFT JOIN o USING (id)`)
	if err != nil {
		return StockReport{}, fmt.Errorf("stock: %w", err)
	}
	defer rows.Close()
	var r StockReport
	for rows.Next() {
		var id string
		var level, initial, added, reserved, released, ordered, cancelled int64
		if err := rows.Scan(&id, &level, &initial, &added, &reserved, &released, &ordered, &cancelled); err != nil {
			return r, err
		}
		r.Products++
		if want := initial + added - reserved + released; level != want || reserved != ordered || released != cancelled {
			r.Mismatched = append(r.Mismatched, fmt.Sprintf(
				"product %s: stock level %d, log %d+%d-%d+%d=%d; order lines %d, of cancelled orders %d",
				id, level, initial, added, reserved, released, want, ordered, cancelled))
		}
	}
	return r, rows.Err()
}

// OrderReport compares the orders table with the orders the load
// generator was answered 201 for.
type OrderReport struct {
	Acknowledged int
	Lost         []string // acknowledged, not in the table
	Extra        []string // in the table for the load's customers, never acknowledged
	SharedKeys   []string // one order answered for two keys
}

// OK reports that every acknowledged order exists once and no other does.
func (r OrderReport) OK() bool {
	return len(r.Lost) == 0 && len(r.Extra) == 0 && len(r.SharedKeys) == 0
}

func (r OrderReport) String() string {
	return fmt.Sprintf("%d acknowledged: %d lost, %d unacknowledged extra", r.Acknowledged, len(r.Lost), len(r.Extra))
}

// Orders compares the table with ack. An extra order is one a retried
// request created a second time (or a placement left unresolved).
func (c Checker) Orders(ctx context.Context, ack Acknowledged) (OrderReport, error) {
	r := OrderReport{Acknowledged: len(ack.Orders)}
	rows, err := c.Pool.Query(ctx, `SELECT id::text FROM orders WHERE customer_id::text = ANY($1)`, ack.Customers)
	if err != nil {
		return r, fmt.Errorf("orders: %w", err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return r, err
		}
		stored[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	for id, keys := range ack.Orders {
		if !stored[id] {
			r.Lost = append(r.Lost, id)
		}
		if strings.Contains(keys, ",") {
			r.SharedKeys = append(r.SharedKeys, id)
		}
	}
	for id := range stored {
		if _, ok := ack.Orders[id]; !ok {
			r.Extra = append(r.Extra, id)
		}
	}
	return r, nil
}

// Acknowledged checks that every product and customer answered 201 is in
// its table and that each product's restocks in the log lie between the
// acknowledged units and those plus the unanswered ones.
func (c Checker) Acknowledged(ctx context.Context, ack Acknowledged) ([]string, error) {
	var problems []string
	for _, q := range []struct {
		table, what string
		ids         []string
	}{
		{"products", "product", ack.Products}, {"customers", "customer", ack.Customers},
	} {
		var n int
		if err := c.Pool.QueryRow(ctx, `SELECT count(*) FROM `+q.table+` WHERE id::text = ANY($1)`, q.ids).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", q.table, err)
		}
		if n != len(q.ids) {
			problems = append(problems, fmt.Sprintf("%d of %d acknowledged %ss are missing", len(q.ids)-n, len(q.ids), q.what))
		}
	}
	rows, err := c.Pool.Query(ctx, `SELECT stream_id::text, sum((data->>'quantity')::bigint) FROM events
		WHERE stream_type = 'product' AND event_type = 'StockAdded' GROUP BY stream_id`)
	if err != nil {
		return nil, fmt.Errorf("restocks: %w", err)
	}
	logged := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		logged[id] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ack.Products {
		if got, lo, hi := logged[id], ack.Restocked[id], ack.Restocked[id]+ack.Uncertain[id]; got < lo || got > hi {
			problems = append(problems, fmt.Sprintf("product %s: %d units restocked in the log, acknowledged %d (+%d unanswered)", id, got, lo, hi-lo))
		}
	}
	return problems, nil
}

// Converge waits until the relay and the projectors caught up and `verify`
// reports no drift, polling until timeout; it returns how long that took.
func Converge(ctx context.Context, sys *System, c Checker, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var last string
	for {
		ok, state, err := c.RelayCaughtUp(ctx)
		if err == nil && ok {
			ok, state, err = c.ProjectorsCaughtUp(ctx)
		}
		if err == nil && ok {
			state, err = sys.Verify(ctx)
			ok = err == nil
		}
		if ok {
			return time.Since(start), nil
		}
		last = state
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("not converged within %s: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}
