package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv/faultproxy"
)

// echoServer answers every line it reads with the same line, on a loopback port.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one line over c and returns what comes back.
func roundTrip(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expectDead fails unless reading c ends (EOF or reset) instead of timing out.
func expectDead(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "anyone?\n") // may fail already: the read below decides
	_, err := bufio.NewReader(c).ReadString('\n')
	var netErr net.Error
	if err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("connection still open through a cut proxy: read err = %v", err)
	}
}

func TestProxyForwardsCutsAndRestores(t *testing.T) {
	p := faultproxy.Start(t, echoServer(t))
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") {
		t.Fatalf("proxy listens on %s, want loopback", p.Addr())
	}

	live := dial(t, p.Addr())
	if got, err := roundTrip(live, "hello"); err != nil || got != "hello" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Cut()
	expectDead(t, live)
	// New connections are accepted and closed at once while cut.
	expectDead(t, dial(t, p.Addr()))

	p.Restore()
	again := dial(t, p.Addr())
	if got, err := roundTrip(again, "back"); err != nil || got != "back" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
}

func TestProxyCloseEndsEverything(t *testing.T) {
	p, err := faultproxy.New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	live := dial(t, p.Addr())
	if got, err := roundTrip(live, "x"); err != nil || got != "x" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	expectDead(t, live)
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("a closed proxy still accepts connections")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestProxyCutUnderLoad cuts while many connections are busy: none may
// survive the cut, and the proxy's goroutines must all end (the race
// detector and Close's wait check the bookkeeping).
func TestProxyCutUnderLoad(t *testing.T) {
	p := faultproxy.Start(t, echoServer(t))
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, p.Addr())
		if got, err := roundTrip(conns[i], "ping"); err != nil || got != "ping" {
			t.Fatalf("conn %d: %q, %v", i, got, err)
		}
	}
	p.Cut()
	for _, c := range conns {
		expectDead(t, c)
	}
	p.Restore()
	if got, err := roundTrip(dial(t, p.Addr()), "pong"); err != nil || got != "pong" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
}
