package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it at 100.
const clockTicks = 100

// CPU is the current run's CPU time so far (user + system), from /proc.
func (p *Process) CPU() (time.Duration, error) {
	cmd, _ := p.current()
	if cmd == nil {
		return 0, fmt.Errorf("%s: not started", p.Name)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// rssSampling is how often a process's high-water mark is read: the kernel
// drops it when the process exits, and the child's own resource usage would
// count our memory, which it shared until exec.
const rssSampling = 20 * time.Millisecond

// sampleRSS records the process's VmHWM until it exits.
func (p *Process) sampleRSS(pid int, done <-chan struct{}) {
	t := time.NewTicker(rssSampling)
	defer t.Stop()
	for {
		if kib, err := readHWM(pid); err == nil {
			p.peakKiB.Store(max(p.peakKiB.Load(), kib))
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// readHWM reads a process's peak resident set size (VmHWM) in KiB from /proc.
func readHWM(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// PeakRSS is the process's peak resident set size in MiB over its runs,
// read from /proc (VmHWM) while it runs and sampled every 20 ms until it
// exited.
func (p *Process) PeakRSS() (float64, error) {
	kib := p.peakKiB.Load()
	cmd, done := p.current()
	if cmd != nil {
		select {
		case <-done:
		default:
			now, err := readHWM(cmd.Process.Pid)
			if err != nil {
				return 0, err
			}
			kib = max(kib, now)
		}
	}
	if kib == 0 {
		return 0, fmt.Errorf("%s: no memory figure was read", p.Name)
	}
	return float64(kib) / 1024, nil
}
