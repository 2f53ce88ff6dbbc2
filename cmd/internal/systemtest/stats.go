package systemtest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stats counts answers by status; 0 stands for a request that got no
// answer (connection refused or reset, timeout).
type Stats struct {
	mu      sync.Mutex
	counts  map[int]int
	samples []string
}

// maxSamples is how many failures Stats keeps verbatim.
const maxSamples = 8

// NewStats returns empty counters.
func NewStats() *Stats { return &Stats{counts: map[int]int{}} }

// Add counts one answer.
func (s *Stats) Add(status int) {
	s.mu.Lock()
	s.counts[status]++
	s.mu.Unlock()
}

// Failed counts a request that got no answer or a 5xx, keeping the first
// few descriptions.
func (s *Stats) Failed(status int, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[status]++
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, time.Now().UTC().Format("15:04:05.000")+" "+what)
	}
}

// Samples are the first failures recorded by Failed.
func (s *Stats) Samples() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// Snapshot is the counters at one moment.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{At: time.Now(), Counts: maps.Clone(s.counts)}
}

// Snapshot is a copy of the counters taken at At.
type Snapshot struct {
	At     time.Time
	Counts map[int]int
}

// Window is what was counted between an earlier snapshot and s.
func (s Snapshot) Window(from Snapshot) Window {
	w := Window{Elapsed: s.At.Sub(from.At), Counts: map[int]int{}}
	for st, n := range s.Counts {
		if d := n - from.Counts[st]; d > 0 {
			w.Counts[st] = d
		}
	}
	return w
}

// Window is the answers counted over a span of time.
type Window struct {
	Elapsed time.Duration
	Counts  map[int]int
}

// Requests is the number of requests in the window.
func (w Window) Requests() int {
	n := 0
	for _, c := range w.Counts {
		n += c
	}
	return n
}

// Rate is requests per second.
func (w Window) Rate() float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return float64(w.Requests()) / w.Elapsed.Seconds()
}

// ServerErrors is the number of 5xx answers.
func (w Window) ServerErrors() int {
	n := 0
	for st, c := range w.Counts {
		if st >= 500 {
			n += c
		}
	}
	return n
}

// Errors lists the counts of everything but 2xx, e.g. "503×12 none×3".
func (w Window) Errors() string {
	var parts []string
	for _, st := range slices.Sorted(maps.Keys(w.Counts)) {
		if st >= 200 && st < 300 {
			continue
		}
		name := strconv.Itoa(st)
		if st == 0 {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, w.Counts[st]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
