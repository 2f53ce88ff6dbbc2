package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pgServerCPU measures the CPU time of the PostgreSQL server the suite runs
// on, when it runs on this machine: its postmaster and every process it
// started (backends, parallel workers, the checkpointer, the WAL writer,
// autovacuum), read from /proc. A backend that exits between two readings
// is not lost: the postmaster reaps it, and the kernel adds its times to the
// postmaster's cutime and cstime.
type pgServerCPU struct {
	// root is /proc, or a fake of it in a test.
	root       string
	postmaster int
	// unavailable says why the server's CPU cannot be read ("" when it can).
	unavailable string
}

// newPGServerCPU finds the postmaster as the parent of the backend serving
// one of the suite's connections. The backend must show the suite's
// database in its process title (PostgreSQL's update_process_title): a pid
// from another PID namespace (a server in a container) or another machine
// would name an unrelated process here, or none.
func newPGServerCPU(ctx context.Context, e *env) *pgServerCPU {
	p := &pgServerCPU{root: "/proc"}
	conn, err := e.db.pool.Acquire(ctx)
	if err != nil {
		p.unavailable = err.Error()
		return p
	}
	defer conn.Release()
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		p.unavailable = fmt.Sprintf("pg_backend_pid(): %v", err)
		return p
	}
	if err := p.find(backend, e.db.name); err != nil {
		p.unavailable = err.Error()
	}
	return p
}

// find sets the postmaster from the pid of a backend connected to database.
func (p *pgServerCPU) find(backend int, database string) error {
	title, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(backend), "cmdline"))
	if err != nil {
		return fmt.Errorf("the server's backend %d is not a process of this machine: %w", backend, err)
	}
	if !bytes.Contains(title, []byte(database)) {
		return fmt.Errorf("process %d is not the server's backend (its title %q does not name database %s)", backend, strings.TrimRight(string(title), "\x00"), database)
	}
	st, err := p.stat(backend)
	if err != nil {
		return err
	}
	p.postmaster = st.ppid
	return nil
}

// procStat is what one /proc/PID/stat says about CPU, in clock ticks.
type procStat struct {
	ppid int
	// own is utime + stime, children cutime + cstime: the times of its
	// children it has waited for.
	own, children int64
}

// parseStat reads /proc/PID/stat. The command name, field 2, is in
// parentheses and may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] ppid; utime, stime, cutime and cstime
	// are fields 14 to 17.
	if len(f) < 15 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	var v [5]int64
	for j, k := range []int{1, 11, 12, 13, 14} {
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("malformed /proc stat: %w", err)
		}
		v[j] = n
	}
	return procStat{ppid: int(v[0]), own: v[1] + v[2], children: v[3] + v[4]}, nil
}

func (p *pgServerCPU) stat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// total is the CPU time the server has used so far: the postmaster's own
// and its reaped children's, plus that of every child still running.
func (p *pgServerCPU) total() (time.Duration, error) {
	if p.unavailable != "" {
		return 0, errors.New(p.unavailable)
	}
	pm, err := p.stat(p.postmaster)
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL's postmaster %d: %w", p.postmaster, err)
	}
	ticks := pm.own + pm.children
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return 0, err
	}
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == p.postmaster {
			continue
		}
		st, err := p.stat(pid)
		if err != nil || st.ppid != p.postmaster {
			// Gone since the listing: the postmaster's children times have it.
			continue
		}
		ticks += st.own + st.children
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it at 100.
const clockTicks = 100
