package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProc is a /proc holding the processes a test gives it.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	return &fakeProc{t: t, root: t.TempDir()}
}

// process writes pid's stat (times in clock ticks) and cmdline.
func (f *fakeProc) process(pid, ppid int, comm, title string, utime, stime, cutime, cstime int) {
	dir := filepath.Join(f.root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 120 0 0 0 %d %d %d %d 20 0 1 0 4242 170000000 900\n",
		pid, comm, ppid, pid, pid, utime, stime, cutime, cstime)
	// The title's words are NUL-separated, as PostgreSQL leaves them.
	for name, body := range map[string]string{"stat": stat, "cmdline": strings.ReplaceAll(title, " ", "\x00") + "\x00"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeProc) exit(pid int) {
	if err := os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))); err != nil {
		f.t.Fatal(err)
	}
}

// TestPGServerCPUSumsTheServersProcesses checks that PostgreSQL's CPU is
// its postmaster's and every child's, nothing else's, and that a backend
// that exits and is reaped between two readings keeps its time counted.
func TestPGServerCPUSumsTheServersProcesses(t *testing.T) {
	proc := newFakeProc(t)
	const db = "bench_20261207_220000_mix"
	proc.process(1, 0, "systemd", "/sbin/init", 500, 500, 9000, 9000)
	proc.process(100, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres -D /data", 10, 5, 7, 3)
	proc.process(101, 100, "postgres", "postgres: checkpointer", 2, 1, 0, 0)
	proc.process(102, 100, "postgres", "postgres: obench_reader "+db+" 127.0.0.1(40000) idle", 300, 40, 0, 0)
	// A command name may hold spaces and parentheses.
	proc.process(103, 100, "pg (worker) 1", "postgres: parallel worker for PID 102", 20, 2, 0, 0)
	proc.process(200, 1, "orderflow-api", "orderflow-api serve", 4000, 600, 0, 0)
	if err := os.WriteFile(filepath.Join(proc.root, "stat"), []byte("cpu 1 2 3 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	p := &pgServerCPU{root: proc.root}
	if err := p.find(200, db); err == nil {
		t.Fatal("the API's process was taken for the server's backend")
	}
	if err := p.find(999, db); err == nil {
		t.Fatal("a pid with no process here was taken for the server's backend")
	}
	if err := p.find(102, db); err != nil {
		t.Fatal(err)
	}
	if p.postmaster != 100 {
		t.Fatalf("postmaster %d, want 100", p.postmaster)
	}
	ticks := func(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond }
	want := ticks(10 + 5 + 7 + 3 + 2 + 1 + 300 + 40 + 20 + 2)
	if got, err := p.total(); err != nil || got != want {
		t.Fatalf("total %s (%v), want %s", got, err, want)
	}

	// The parallel worker exits and the postmaster reaps it; the backend works on.
	proc.exit(103)
	proc.process(100, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres -D /data", 10, 5, 7+20, 3+2)
	proc.process(102, 100, "postgres", "postgres: obench_reader "+db+" 127.0.0.1(40000) idle", 350, 45, 0, 0)
	if got, err := p.total(); err != nil || got != want+ticks(55) {
		t.Fatalf("total after an exit %s (%v), want %s", got, err, want+ticks(55))
	}

	proc.exit(100)
	if _, err := p.total(); err == nil {
		t.Fatal("no error with the postmaster gone")
	}
	if _, err := (&pgServerCPU{unavailable: "not on this machine"}).total(); err == nil || !strings.Contains(err.Error(), "not on this machine") {
		t.Fatalf("unavailable server: error %v", err)
	}
}

// TestParseStatOfThisProcess reads our own /proc stat: the parent is the
// one the kernel reports, and the times are not negative.
func TestParseStatOfThisProcess(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	st, err := parseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() || st.own < 0 || st.children < 0 {
		t.Errorf("stat %+v, parent %d", st, os.Getppid())
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S one 0 0 0 -1 0 0 0 0 0 1 1 1 1"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
