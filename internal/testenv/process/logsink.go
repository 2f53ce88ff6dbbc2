package process

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// raceReport starts every report of the race detector.
const raceReport = "WARNING: DATA RACE"

// LogSink collects what a process (or an in-process server) writes, for a
// test to read while the writer goes on. It keeps the last limit bytes,
// remembers whether the race detector reported a race, and picks the
// address out of the first JSON log record {"msg":"listening","addr":…}.
// It is safe for concurrent use.
type LogSink struct {
	limit int

	mu        sync.Mutex
	buf       []byte
	partial   []byte // the unfinished last line
	race      bool
	listening string
}

// DefaultLogLimit is how much output a LogSink keeps by default: all of a
// test's process, the last stretch of a long run.
const DefaultLogLimit = 1 << 20

// NewLogSink returns a sink that keeps the last limit bytes (≤ 0: DefaultLogLimit).
func NewLogSink(limit int) *LogSink {
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	return &LogSink{limit: limit}
}

// Write never fails.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == 0 {
		s.limit = DefaultLogLimit
	}
	s.buf = append(s.buf, p...)
	if len(s.buf) > s.limit {
		// Drop whole halves, so appends stay amortised.
		s.buf = append(s.buf[:0], s.buf[len(s.buf)-s.limit/2:]...)
	}
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(s.partial[:i])
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > s.limit {
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

func (s *LogSink) line(l []byte) {
	if bytes.Contains(l, []byte(raceReport)) {
		s.race = true
	}
	if s.listening != "" || !bytes.Contains(l, []byte(`"listening"`)) {
		return
	}
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(l, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
		s.listening = rec.Addr
	}
}

// String is the output kept.
func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf)
}

// Tail is the last n lines of the output kept.
func (s *LogSink) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Last is the last non-empty line written.
func (s *LogSink) Last() string { return strings.TrimSpace(s.Tail(1)) }

// Raced reports whether the race detector reported a data race.
func (s *LogSink) Raced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.race
}

// Listening is the address of the first "listening" log record, "" before one.
func (s *LogSink) Listening() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listening
}
