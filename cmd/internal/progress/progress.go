package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Mode chooses between the bar and plain lines.
type Mode int

const (
	// Auto draws a bar when the output is a terminal and prints lines
	// otherwise (TERM=dumb counts as no terminal).
	Auto Mode = iota
	// Bar always draws a bar.
	Bar
	// Lines always prints plain lines.
	Lines
)

// tick is how often the count reaches the bar or is checked for a line.
const tick = 100 * time.Millisecond

// Config describes one job.
type Config struct {
	// Label starts each line and names the bar ("seed: products").
	Label string
	// Total is the count at which the job is done. SetTotal changes it,
	// for a job that learns its size as it goes (a replay's estimate).
	Total int64
	// Unit names what is counted ("events"); empty for a bare count.
	Unit string
	// Duration, when set, makes a job that lasts that long whatever it
	// counts (a timed load phase): its progress is the time passed, and the
	// count and its rate are shown beside it. Total is then ignored.
	Duration time.Duration
	// Every is the gap between plain lines; 0 prints one at each tenth of
	// the job instead.
	Every time.Duration
	// Mode is Auto unless a test or a flag says otherwise.
	Mode Mode
}

// Progress is one job's report. Add, Fail, Set, SetTotal and SetDetail are safe
// from many goroutines; call Done or Stop once at the end.
type Progress struct {
	cfg    Config
	out    io.Writer
	start  time.Time
	done   atomic.Int64
	failed atomic.Int64
	total  atomic.Int64

	// mu guards what follows and every write to out.
	mu        sync.Mutex
	detail    string
	bar       *progressbar.ProgressBar // nil when printing lines
	shown     string                   // the bar's description
	drawn     int64                    // the count the bar has
	lastLine  time.Time
	lastTenth int64

	quit     chan struct{}
	finished chan struct{}
	endOnce  sync.Once
}

// New starts reporting a job to out.
func New(out io.Writer, cfg Config) *Progress {
	p := &Progress{cfg: cfg, out: out, start: time.Now(), quit: make(chan struct{}), finished: make(chan struct{})}
	p.total.Store(cfg.Total)
	p.lastLine = p.start
	if useBar(out, cfg.Mode) {
		p.shown = p.describe()
		p.bar = p.newBar()
	}
	go p.run()
	return p
}

// useBar tells whether mode asks for a bar on out.
func useBar(out io.Writer, mode Mode) bool {
	switch mode {
	case Bar:
		return true
	case Lines:
		return false
	}
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

func (p *Progress) newBar() *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(p.shown),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionUseANSICodes(true),
	}
	max := p.cfg.Total
	if p.cfg.Duration > 0 {
		// The bar measures milliseconds; the count and its rate go in the
		// description, where describe puts them.
		max = p.cfg.Duration.Milliseconds()
	} else {
		unit := p.cfg.Unit
		if unit == "" {
			unit = "ops"
		}
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
	}
	if max <= 0 {
		max = -1 // a spinner: the size is not known yet
	}
	return progressbar.NewOptions64(max, opts...)
}

// Add counts n more done.
func (p *Progress) Add(n int64) { p.done.Add(n) }

// Fail counts n that failed; the figures then say how many.
func (p *Progress) Fail(n int64) { p.failed.Add(n) }

// Set says how many are done so far.
func (p *Progress) Set(n int64) { p.done.Store(n) }

// SetTotal changes the count at which the job is done.
func (p *Progress) SetTotal(n int64) { p.total.Store(n) }

// SetDetail sets what follows the figures ("3 failed").
func (p *Progress) SetDetail(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detail = s
}

// Println writes a line of the caller's own without breaking the bar.
func (p *Progress) Println(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		fmt.Fprintln(p.out, line)
		return
	}
	_ = p.bar.Clear()
	fmt.Fprintln(p.out, line)
	_ = p.bar.RenderBlank()
}

// Done ends a job that has no summary of its own: the bar stays on screen
// with its last figures, and the plain output ends with a last line.
func (p *Progress) Done() { p.end(true) }

// Stop ends a job whose caller prints its own summary next: the bar is
// cleared for it, and no last plain line repeats it.
func (p *Progress) Stop() { p.end(false) }

func (p *Progress) end(keep bool) {
	p.endOnce.Do(func() {
		close(p.quit)
		<-p.finished
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bar == nil {
			if keep {
				fmt.Fprintln(p.out, p.line(true))
			}
			return
		}
		p.updateBar()
		// Exit, not Finish: a job that stopped short keeps its figures.
		_ = p.bar.Exit()
		if !keep {
			_ = p.bar.Clear()
			return
		}
		fmt.Fprintln(p.out)
	})
}

// run hands the count to the bar, or prints a line when one is due, until
// the job ends.
func (p *Progress) run() {
	defer close(p.finished)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case now := <-t.C:
			p.mu.Lock()
			if p.bar != nil {
				p.updateBar()
			} else if p.lineDue(now) {
				p.lastLine = now
				fmt.Fprintln(p.out, p.line(false))
			}
			p.mu.Unlock()
		}
	}
}

// updateBar draws the current figures; p.mu is held. Each call to the bar
// draws it, and a Set that adds nothing counts as a rate of zero in the
// bar's rolling average, so only what changed is handed over.
func (p *Progress) updateBar() {
	if d := p.describe(); d != p.shown {
		p.shown = d
		p.bar.Describe(d)
	}
	if p.cfg.Duration > 0 {
		_ = p.bar.Set64(min(time.Since(p.start), p.cfg.Duration).Milliseconds())
		return
	}
	if total := p.total.Load(); total > 0 && total != p.bar.GetMax64() {
		p.bar.ChangeMax64(total)
	}
	if done := min(p.done.Load(), max(p.bar.GetMax64(), 0)); done != p.drawn {
		p.drawn = done
		_ = p.bar.Set64(done)
	}
}

// describe is the bar's description: the label, and for a timed job the
// count and rate the bar itself does not show; p.mu is held or p is new.
func (p *Progress) describe() string {
	var b strings.Builder
	b.WriteString(p.cfg.Label)
	if p.cfg.Duration > 0 {
		done := p.done.Load()
		fmt.Fprintf(&b, ": %s%s (%s/s)", thousands(float64(done)), p.unit(), thousands(p.rate(done)))
	}
	p.writeTail(&b)
	return b.String()
}

// lineDue tells whether a plain line is owed: every Every, or when the job
// has passed another tenth; p.mu is held.
func (p *Progress) lineDue(now time.Time) bool {
	if p.cfg.Every > 0 {
		return now.Sub(p.lastLine) >= p.cfg.Every
	}
	// The last tenth is Done's to print, with the time the job took.
	tenth := min(int64(10*p.fraction()), 9)
	if tenth <= p.lastTenth {
		return false
	}
	p.lastTenth = tenth
	return true
}

// fraction is how much of the job is done, from 0 to 1; 0 when unknown.
func (p *Progress) fraction() float64 {
	if p.cfg.Duration > 0 {
		return min(float64(time.Since(p.start))/float64(p.cfg.Duration), 1)
	}
	total := p.total.Load()
	if total <= 0 {
		return 0
	}
	return min(float64(p.done.Load())/float64(total), 1)
}

// line is one plain line with the figures, final when the job has ended:
//
//	seed: 120/300 products (40%, 231 products/s, ETA 1s)
//	replay: streams: 5,000/100,000 events (5%, 12,000 events/s, ETA 8s)
//	orders: 4.0s/10s, 12,345 (3,086/s, ETA 6s), 2 failed, a detail
func (p *Progress) line(final bool) string {
	var b strings.Builder
	b.WriteString(p.cfg.Label)
	elapsed := time.Since(p.start)
	done := p.done.Load()
	rate := thousands(p.rate(done)) + p.unit() + "/s"
	eta := "ETA " + p.eta(done).String()
	if final {
		eta = "in " + elapsed.Round(100*time.Millisecond).String()
	}
	if p.cfg.Duration > 0 {
		fmt.Fprintf(&b, ": %.1fs/%s, %s%s (%s, %s)", elapsed.Seconds(), p.cfg.Duration, thousands(float64(done)), p.unit(), rate, eta)
	} else if total := p.total.Load(); total > 0 {
		fmt.Fprintf(&b, ": %s/%s%s (%.0f%%, %s, %s)", thousands(float64(done)), thousands(float64(total)), p.unit(),
			100*p.fraction(), rate, eta)
	} else {
		fmt.Fprintf(&b, ": %s%s (%s)", thousands(float64(done)), p.unit(), rate)
	}
	p.writeTail(&b)
	return b.String()
}

// writeTail adds the failures and the detail, when there are any; p.mu is
// held or p is new.
func (p *Progress) writeTail(b *strings.Builder) {
	if n := p.failed.Load(); n > 0 {
		b.WriteString(", " + thousands(float64(n)) + " failed")
	}
	if p.detail != "" {
		b.WriteString(", " + p.detail)
	}
}

func (p *Progress) unit() string {
	if p.cfg.Unit == "" {
		return ""
	}
	return " " + p.cfg.Unit
}

// rate is done per second since the start.
func (p *Progress) rate(done int64) float64 {
	return float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
}

// eta is the time left at the rate so far, to the second; 0 when unknown.
func (p *Progress) eta(done int64) time.Duration {
	if p.cfg.Duration > 0 {
		return max(p.cfg.Duration-time.Since(p.start), 0).Round(time.Second)
	}
	total, rate := p.total.Load(), p.rate(done)
	if total <= done || rate == 0 {
		return 0
	}
	return time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
}

// thousands formats v rounded to an integer, with commas between thousands.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	if v <= -0.5 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
