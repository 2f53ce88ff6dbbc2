package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client that never finishes its headers is cut off after ReadHeader; the
// test waits for the server to close the connection, however long it takes
// up to a generous deadline.
func TestSlowHeadersAreCutOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	timeouts := DefaultHTTPTimeouts()
	timeouts.ReadHeader = 50 * time.Millisecond
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	go func() {
		done <- ListenAndServeWith(ctx, slog.New(slog.DiscardHandler), "127.0.0.1:0", handler, time.Second, timeouts, func(a net.Addr) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServeWith: %v", err)
		}
	})
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	}
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Never send the blank line. The read returns once the server hangs up
	// (it may first answer 408); a read that hits our own deadline means it
	// never did.
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(conn)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open")
	}
}

func TestHTTPTimeoutsSettings(t *testing.T) {
	env := map[string]string{"ORDERFLOW_HTTP_READ_TIMEOUT": "7s"}
	fs := NewFlags("x", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var got HTTPTimeouts
	got.Register(fs)
	if err := fs.Parse([]string{"--http-idle-timeout=1m"}); err != nil {
		t.Fatal(err)
	}
	want := DefaultHTTPTimeouts()
	want.Read, want.Idle = 7*time.Second, time.Minute
	if got != want {
		t.Fatalf("timeouts = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	got.Write = 0
	if err := got.Validate(); err == nil {
		t.Fatal("a zero write timeout passed validation")
	}
}
