package progress

import (
	"fmt"
	"io"
	"sync"
)

// Phased reports a job told its figures by a callback, in phases that each
// get their own bar: a replay that falls back from the streams to the event
// store starts counting again under a new label. It is safe for concurrent
// use.
type Phased struct {
	out io.Writer
	cfg Config

	mu    sync.Mutex
	label string
	cur   *Progress // nil between phases
}

// NewPhased reports to out; cfg gives every phase its unit, period and mode,
// and its label is replaced by each phase's.
func NewPhased(out io.Writer, cfg Config) *Phased {
	return &Phased{out: out, cfg: cfg}
}

// Update records done of total in the phase label, starting that phase when
// it is new.
func (ph *Phased) Update(label string, done, total int64) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.cur == nil || label != ph.label {
		if ph.cur != nil {
			ph.cur.Stop()
		}
		cfg := ph.cfg
		cfg.Label, cfg.Total = label, total
		ph.label, ph.cur = label, New(ph.out, cfg)
	}
	ph.cur.SetTotal(total)
	ph.cur.Set(done)
}

// Println writes a line of the caller's own without breaking the bar.
func (ph *Phased) Println(line string) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.cur == nil {
		fmt.Fprintln(ph.out, line)
		return
	}
	ph.cur.Println(line)
}

// Stop ends the current phase, for the caller's summary to follow; the next
// Update starts a new one.
func (ph *Phased) Stop() {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.cur != nil {
		ph.cur.Stop()
		ph.cur = nil
	}
}
