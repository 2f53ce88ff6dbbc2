package process_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

func TestLogSink(t *testing.T) {
	s := process.NewLogSink(64)
	_, _ = s.Write([]byte(`{"msg":"starting"}` + "\n" + `{"msg":"listen`))
	if got := s.Listening(); got != "" {
		t.Fatalf("Listening before the record = %q", got)
	}
	_, _ = s.Write([]byte(`ing","addr":"127.0.0.1:4242"}` + "\n"))
	if got := s.Listening(); got != "127.0.0.1:4242" {
		t.Errorf("Listening = %q, want 127.0.0.1:4242", got)
	}
	if s.Raced() {
		t.Error("Raced before any race report")
	}
	_, _ = s.Write([]byte("==================\nWARNING: DATA RACE\nWrite at 0x00c by goroutine 7:\n"))
	if !s.Raced() {
		t.Error("Raced = false after a race report")
	}
	for range 10 {
		_, _ = s.Write([]byte("a line of filler text\n"))
	}
	if n := len(s.String()); n > 64 {
		t.Errorf("kept %d bytes, want at most 64", n)
	}
	if got := s.Last(); got != "a line of filler text" {
		t.Errorf("Last = %q", got)
	}
	if !s.Raced() || s.Listening() != "127.0.0.1:4242" {
		t.Error("trimming forgot the race or the address")
	}
}

func TestOneShotExitAndOutput(t *testing.T) {
	var stdout bytes.Buffer
	p, err := process.New(process.Spec{Path: "/bin/sh", Args: []string{"-c", `echo "$ORDERFLOW_X"; echo last words >&2; exit 3`},
		Settings: map[string]string{"ORDERFLOW_X": "set"}, Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	err = p.Wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "last words") {
		t.Errorf("Wait = %v, want the exit with the last words", err)
	}
	if got := p.ExitCode(); got != 3 {
		t.Errorf("ExitCode = %d, want 3", got)
	}
	if got := strings.TrimSpace(stdout.String()); got != "set" {
		t.Errorf("stdout = %q, want the setting", got)
	}
	if got := p.Logs().String(); got != "last words\n" {
		t.Errorf("log = %q, want the standard error only", got)
	}
}

func TestStopKillRestart(t *testing.T) {
	p, err := process.New(process.Spec{Name: "sleeper", Path: "/bin/sh",
		Args: []string{"-c", `trap 'exit 0' TERM; echo trapped; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Error("a second Start of a running process succeeded")
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if !p.Running() {
		t.Fatal("not running after Restart")
	}
	// A SIGTERM before the shell has set its trap kills it by the signal.
	for deadline := time.Now().Add(10 * time.Second); p.Logs().Last() != "trapped"; {
		if time.Now().After(deadline) {
			t.Fatalf("the shell never set its trap; last line %q", p.Logs().Last())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop of a process that exits cleanly on SIGTERM: %v", err)
	}
	if p.Running() {
		t.Error("running after Stop")
	}
}

func TestAddrKeptAcrossRestarts(t *testing.T) {
	p, err := process.New(process.Spec{Path: "/bin/sh", Args: []string{"-c", `echo "$ORDERFLOW_HTTP_ADDR"`},
		AddrEnv: "ORDERFLOW_HTTP_ADDR"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want a loopback address", p.Addr)
	}
	for range 2 {
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := p.Logs().Last(); got != p.Addr {
			t.Errorf("the program got %q, want %q", got, p.Addr)
		}
	}
}
