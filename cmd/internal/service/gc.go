package service

import (
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
)

// GC tunes the Go garbage collector of a server. A server's live heap is
// small (tens of MiB) while it allocates per request, so at the runtime's
// default (GOGC=100) it collects after every few MiB allocated: under the
// read suite the API spent a fifth of its CPU on it. A higher GC percentage
// collects less often; a soft memory limit bounds the heap that lets grow,
// and makes the collector work harder only as the limit nears
// (docs/adr/0018-gc-tuning.md).
type GC struct {
	// Percent is GOGC: how far the heap may grow past the live heap before
	// a collection, in percent.
	Percent int
	// MemoryLimitMiB is GOMEMLIMIT in MiB: the soft limit of the Go
	// runtime's memory.
	MemoryLimitMiB int
}

// Register adds --gc-percent and --memory-limit-mib with a binary's defaults.
func (g *GC) Register(fs *Flags, percent, limitMiB int) {
	fs.Int(&g.Percent, "gc-percent", percent, "heap growth in percent between garbage collections (GOGC; the GOGC variable, when set, wins)")
	fs.Int(&g.MemoryLimitMiB, "memory-limit-mib", limitMiB, "soft limit of the Go runtime's memory in MiB; the collector works harder as it nears (GOMEMLIMIT; the GOMEMLIMIT variable, when set, wins)")
}

// Validate reports settings the runtime cannot take.
func (g GC) Validate() error {
	var errs []error
	if g.Percent < 25 || g.Percent > 2000 {
		errs = append(errs, errors.New("gc-percent must be between 25 and 2000"))
	}
	if g.MemoryLimitMiB < 32 {
		errs = append(errs, errors.New("memory-limit-mib must be at least 32"))
	}
	return errors.Join(errs...)
}

// Apply sets the collector, except what the runtime's own variables GOGC
// and GOMEMLIMIT already set: an operator who uses them keeps them.
func (g GC) Apply(lookupEnv func(string) (string, bool), logger *slog.Logger) {
	percent := strconv.Itoa(g.Percent)
	if v, set := lookupEnv("GOGC"); set {
		percent = "GOGC=" + v
	} else {
		debug.SetGCPercent(g.Percent)
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(int64(g.MemoryLimitMiB) << 20)
	}
	// A negative limit reads the current one without changing it.
	logger.Info("garbage collector", slog.String("percent", percent), slog.Int64("memoryLimitMiB", debug.SetMemoryLimit(-1)>>20))
}
