package relay

import (
	"fmt"
	"strconv"
	"strings"
)

// LogPosition is a place in the log in commit order: the appending
// transaction's id, then the event's global position. Global positions are
// assigned at insert, not at commit, so they alone would skip events of a
// transaction that commits late; the pair does not.
type LogPosition struct {
	TxID     uint64
	Position int64
}

// After reports whether p comes after q in commit order.
func (p LogPosition) After(q LogPosition) bool {
	return p.TxID > q.TxID || p.TxID == q.TxID && p.Position > q.Position
}

// String is the checkpoint's stored form, "txid:position".
func (p LogPosition) String() string {
	return strconv.FormatUint(p.TxID, 10) + ":" + strconv.FormatInt(p.Position, 10)
}

// ParseLogPosition reads the stored form; "" is the start of the log.
func ParseLogPosition(s string) (LogPosition, error) {
	if s == "" {
		return LogPosition{}, nil
	}
	tx, pos, ok := strings.Cut(s, ":")
	if !ok {
		return LogPosition{}, fmt.Errorf("log position %q: want txid:position", s)
	}
	var p LogPosition
	var err error
	if p.TxID, err = strconv.ParseUint(tx, 10, 64); err != nil {
		return LogPosition{}, fmt.Errorf("log position %q: %w", s, err)
	}
	if p.Position, err = strconv.ParseInt(pos, 10, 64); err != nil {
		return LogPosition{}, fmt.Errorf("log position %q: %w", s, err)
	}
	return p, nil
}
