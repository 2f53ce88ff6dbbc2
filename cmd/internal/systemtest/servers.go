package systemtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// RedisServer is a redis-server the harness runs itself (in the
// foreground, as its child), so a test can kill it with SIGKILL and start it
// again on the same port, with or without its data.
type RedisServer struct {
	Proc *process.Process
	Dir  string // working directory: the AOF lives here
}

// NewRedisServer starts redis-server on a free loopback port with its data
// in dir. With aof set it persists like production (appendonly yes,
// appendfsync everysec); otherwise it keeps nothing across a restart.
func NewRedisServer(ctx context.Context, dir, logDir string, aof bool) (*RedisServer, error) {
	addr, err := process.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(addr, ":")
	persist := []string{"--appendonly", "no"}
	if aof {
		persist = []string{"--appendonly", "yes", "--appendfsync", "everysec"}
	}
	args := append([]string{"--bind", "127.0.0.1", "--port", port, "--dir", dir, "--save", "", "--daemonize", "no"}, persist...)
	p, err := process.New(process.Spec{Name: "redis", Path: "redis-server", Args: args, Addr: addr,
		LogFile: filepath.Join(logDir, "redis.log")})
	if err != nil {
		return nil, err
	}
	r := &RedisServer{Proc: p, Dir: dir}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return r, r.WaitReady(ctx, 15*time.Second)
}

// URL is the server's redis:// URL.
func (r *RedisServer) URL() string { return "redis://" + r.Proc.Addr + "/0" }

// WaitReady waits until the server answers PING with its data loaded.
func (r *RedisServer) WaitReady(ctx context.Context, timeout time.Duration) error {
	client := redis.NewClient(&redis.Options{Addr: r.Proc.Addr, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(timeout)
	for {
		err := client.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if !r.Proc.Running() {
			return fmt.Errorf("redis-server exited:\n%s", r.Proc.Tail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server not ready within %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// Restart kills the server with SIGKILL and starts it again on its port;
// with wipe set its data directory is emptied first (data loss).
func (r *RedisServer) Restart(ctx context.Context, wipe bool) error {
	r.Proc.Kill()
	if wipe {
		entries, err := os.ReadDir(r.Dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(r.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := r.Proc.Start(); err != nil {
		return err
	}
	return r.WaitReady(ctx, 30*time.Second)
}

// Postgres is a PostgreSQL server started by scripts/services.sh under an
// instance name; CrashAndRestart kills it with SIGKILL and starts it again
// keeping its data (ORDERFLOW_SERVICES_KEEP_DATA=1).
type Postgres struct {
	Instance string // services.sh instance name
	Script   string // path of scripts/services.sh
	Pool     *pgxpool.Pool
	dataDir  string
}

// NewPostgres describes the running instance that pool (a superuser
// connection) reaches.
func NewPostgres(ctx context.Context, script, instance string, pool *pgxpool.Pool) (*Postgres, error) {
	p := &Postgres{Instance: instance, Script: script, Pool: pool}
	if err := pool.QueryRow(ctx, `SHOW data_directory`).Scan(&p.dataDir); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return p, nil
}

// Kill sends SIGKILL to the postmaster and then to every process it
// started, as a machine losing the server would; nothing shuts down cleanly.
func (p *Postgres) Kill() error {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	children := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill postmaster %d: %w", pid, err)
	}
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, q := range append(children, pid) {
		for syscall.Kill(q, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("postgres process %d outlived SIGKILL", q)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
	return nil
}

// Start starts the killed server again on its port with its data.
func (p *Postgres) Start(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "bash", p.Script, "start", p.Instance)
	cmd.Env = append(os.Environ(), "ORDERFLOW_SERVICES_KEEP_DATA=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("services.sh start %s: %w\n%s", p.Instance, err, out)
	}
	return nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 4 is the parent pid; field 2, the command, may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) >= 2 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
