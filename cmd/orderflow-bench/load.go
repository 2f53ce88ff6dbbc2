package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/progress"
)

// op is one operation of a closed-loop client: worker numbers the client and
// rng is its own random source. A nil error counts as a success; an error
// counts as a failure and is reported (see kinded).
type op func(ctx context.Context, worker int, rng *rand.Rand) error

// kinded is an error that says which bucket it is counted in ("HTTP 409").
type kinded interface {
	error
	kind() string
}

// maxErrorSamples is how many failures are kept verbatim.
const maxErrorSamples = 5

// loadResult is what a closed-loop run measured.
type loadResult struct {
	Clients int
	Wall    time.Duration
	OK      int
	Failed  int
	// ErrorKinds counts failures by kind; ErrorSamples holds the first few
	// distinct messages.
	ErrorKinds   map[string]int
	ErrorSamples []string
	// latencies of successful operations, sorted.
	latencies []time.Duration
	// CPU is this process's CPU time (user + system) during the run.
	CPU time.Duration
	// Machine is the whole machine's CPU time during the run, every process's.
	Machine machineCPU
	// Open loop only: Target is the intended rate per second, Sent the
	// operations started, MaxLate the longest delay of a start behind its
	// schedule (the generator's own lag).
	Target  float64
	Sent    int
	MaxLate time.Duration
}

// merge adds round to r, as if both had been one run; a nil r is empty.
func (r *loadResult) merge(round *loadResult) *loadResult {
	if r == nil {
		r = &loadResult{Clients: round.Clients, Target: round.Target, ErrorKinds: map[string]int{}}
	}
	r.Sent += round.Sent
	r.MaxLate = max(r.MaxLate, round.MaxLate)
	r.Wall += round.Wall
	r.OK += round.OK
	r.Failed += round.Failed
	for k, n := range round.ErrorKinds {
		r.ErrorKinds[k] += n
	}
	for _, msg := range round.ErrorSamples {
		if len(r.ErrorSamples) < maxErrorSamples && !slices.Contains(r.ErrorSamples, msg) {
			r.ErrorSamples = append(r.ErrorSamples, msg)
		}
	}
	r.latencies = append(r.latencies, round.latencies...)
	slices.Sort(r.latencies)
	r.CPU += round.CPU
	r.Machine = r.Machine.add(round.Machine)
	return r
}

// summary is a one-line account of the run.
func (r *loadResult) summary() string {
	return fmt.Sprintf("%s ok in %s = %s/s, p50 %s, p99 %s, %d failed; CPU: own %.0f%%, machine busy %.0f%%, steal %.0f%%",
		thousands(float64(r.OK)), r.Wall.Round(time.Millisecond), thousands(r.Rate()),
		r.Percentile(0.50).Round(time.Microsecond), r.Percentile(0.99).Round(time.Microsecond), r.Failed,
		100*r.CPUShare(), 100*r.Machine.Busy(), 100*r.Machine.Steal())
}

// Rate is successful operations per second of wall time.
func (r *loadResult) Rate() float64 { return float64(r.OK) / r.Wall.Seconds() }

// Percentile is the latency below which fraction p of the successful
// operations completed (nearest rank), 0 when none did.
func (r *loadResult) Percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

// CPUShare is this process's share of the machine during the run: CPU time
// over wall time times the number of CPUs.
func (r *loadResult) CPUShare() float64 { return cpuShare(r.CPU, r.Wall) }

// runClosedLoop runs do in clients goroutines, each starting its next
// operation when the previous one returned, until d has passed; operations
// in flight at the deadline finish and count. It prints a progress line every
// period. It fails only when ctx ends.
func runClosedLoop(ctx context.Context, out io.Writer, label string, clients int, d, period time.Duration, do op) (*loadResult, error) {
	type worker struct {
		latencies []time.Duration
		kinds     map[string]int
		failed    int
	}
	var (
		workers   = make([]worker, clients)
		samplesMu sync.Mutex
		samples   []string
		wg        sync.WaitGroup
	)
	cpu0, machine0 := processCPU(), readMachineCPU()
	// A run no longer than period gets only its summary line.
	bar := progress.New(out, progress.Config{Label: "  " + label, Unit: "ok", Duration: d, Every: max(period, d+time.Second)})
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &workers[i]
			w.kinds = map[string]int{}
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t := time.Now()
				err := do(ctx, i, rng)
				if err == nil {
					w.latencies = append(w.latencies, time.Since(t))
					bar.Add(1)
					continue
				}
				if ctx.Err() != nil {
					return
				}
				w.failed++
				bar.Fail(1)
				kind := "error"
				var k kinded
				if errors.As(err, &k) {
					kind = k.kind()
				}
				w.kinds[kind]++
				samplesMu.Lock()
				if msg := err.Error(); len(samples) < maxErrorSamples && !slices.Contains(samples, msg) {
					samples = append(samples, msg)
				}
				samplesMu.Unlock()
			}
		}()
	}
	wg.Wait()
	bar.Stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &loadResult{Clients: clients, Wall: time.Since(start), CPU: processCPU() - cpu0, ErrorKinds: map[string]int{}, ErrorSamples: samples}
	r.Machine = readMachineCPU().sub(machine0)
	for _, w := range workers {
		r.latencies = append(r.latencies, w.latencies...)
		r.Failed += w.failed
		for k, n := range w.kinds {
			r.ErrorKinds[k] += n
		}
	}
	r.OK = len(r.latencies)
	slices.Sort(r.latencies)
	fmt.Fprintf(out, "  %s: %s\n", label, r.summary())
	return r, nil
}

// timedOp is one operation of an open-loop run: i numbers it and intended
// is when the schedule started it.
type timedOp func(ctx context.Context, i int, intended time.Time) error

// runOpenLoop starts do rate times a second for d, each on its own goroutine
// at its scheduled time, whether or not earlier ones have finished; it then
// waits for all of them. Latencies are measured from the scheduled start, so
// a stall delays every operation scheduled during it and none is left out
// (no coordinated omission). It fails only when ctx ends.
func runOpenLoop(ctx context.Context, out io.Writer, label string, rate float64, d, period time.Duration, do timedOp) (*loadResult, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("%s: rate %.1f/s is not positive", label, rate)
	}
	interval := time.Duration(float64(time.Second) / rate)
	n := max(int(d/interval), 1)
	var (
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, n)
		kinds   = map[string]int{}
		samples []string
		failed  int
		wg      sync.WaitGroup
		maxLate time.Duration
	)
	cpu0, machine0 := processCPU(), readMachineCPU()
	bar := progress.New(out, progress.Config{Label: fmt.Sprintf("  %s at %s/s", label, thousands(rate)), Unit: "done", Duration: d, Every: period})
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; i < n && ctx.Err() == nil; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		maxLate = max(maxLate, time.Since(intended))
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := do(ctx, i, intended)
			took := time.Since(intended)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				lat = append(lat, took)
				bar.Add(1)
				return
			}
			if ctx.Err() != nil {
				return
			}
			failed++
			bar.Fail(1)
			kind := "error"
			var k kinded
			if errors.As(err, &k) {
				kind = k.kind()
			}
			kinds[kind]++
			if msg := err.Error(); len(samples) < maxErrorSamples && !slices.Contains(samples, msg) {
				samples = append(samples, msg)
			}
		}()
	}
	wg.Wait()
	bar.Stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &loadResult{Clients: 0, Wall: time.Since(start), CPU: processCPU() - cpu0, ErrorKinds: kinds, ErrorSamples: samples,
		Target: rate, Sent: n, MaxLate: maxLate, Failed: failed, latencies: lat}
	r.Machine = readMachineCPU().sub(machine0)
	r.OK = len(lat)
	slices.Sort(r.latencies)
	fmt.Fprintf(out, "  %s: %s of %s started at %s/s; latency from the scheduled start p50 %s, p99 %s; %d failed; start lag at most %s; machine busy %.0f%%\n",
		label, thousands(float64(r.OK)), thousands(float64(n)), thousands(rate), r.Percentile(0.5).Round(time.Microsecond),
		r.Percentile(0.99).Round(time.Microsecond), failed, maxLate.Round(time.Microsecond), 100*r.Machine.Busy())
	return r, nil
}

// runCount runs do(i) for i in [0, n) on clients goroutines and prints
// progress at every tenth. The first failure stops the rest and is returned.
func runCount(ctx context.Context, out io.Writer, label string, n, clients int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	p := progress.New(out, progress.Config{Label: "  " + label, Total: int64(n)})
	for range min(clients, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(ctx, i); err != nil {
					cancel(fmt.Errorf("%s %d: %w", label, i+1, err))
					return
				}
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		p.Stop()
		return err
	}
	p.Done()
	return nil
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuShare is cpu over wall time times the number of CPUs: 1 is the whole machine.
func cpuShare(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / (wall.Seconds() * float64(runtime.NumCPU()))
}

// machineCPU is the machine's CPU time in clock ticks, from the "cpu" line
// of /proc/stat: busy is every process's work (user, nice, system, irq,
// softirq), steal is time the hypervisor gave to other guests.
type machineCPU struct {
	busy, steal, total float64
}

// readMachineCPU reads /proc/stat; zero when it cannot.
func readMachineCPU() machineCPU {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]float64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	m := machineCPU{busy: v[0] + v[1] + v[2] + v[5] + v[6], steal: v[7]}
	m.total = m.busy + m.steal + v[3] + v[4]
	return m
}

func (m machineCPU) sub(o machineCPU) machineCPU {
	return machineCPU{busy: m.busy - o.busy, steal: m.steal - o.steal, total: m.total - o.total}
}

func (m machineCPU) add(o machineCPU) machineCPU {
	return machineCPU{busy: m.busy + o.busy, steal: m.steal + o.steal, total: m.total + o.total}
}

// Busy is the share of the machine's CPU time spent working.
func (m machineCPU) Busy() float64 { return share(m.busy, m.total) }

// Steal is the share of the machine's CPU time taken by other guests.
func (m machineCPU) Steal() float64 { return share(m.steal, m.total) }

func share(part, total float64) float64 {
	if total <= 0 {
		return 0
	}
	return part / total
}
