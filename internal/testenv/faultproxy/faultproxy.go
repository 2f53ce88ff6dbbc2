package faultproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dialTimeout bounds connecting to the target for one accepted connection.
const dialTimeout = 5 * time.Second

// Proxy forwards every connection accepted on its loopback address to target.
// It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{}

	// jitter is the largest delay added to each chunk of a reply (target
	// to client), in nanoseconds; 0 forwards at once.
	jitter atomic.Int64

	wg sync.WaitGroup
}

// New listens on 127.0.0.1:0 and forwards to target (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Start is New for tests: it fails tb on error and closes the proxy on cleanup.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatalf("faultproxy: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// Jitter delays every chunk the target sends back by a random duration up
// to max, like a congested network or a descheduled client: replies on one
// connection keep their order, but replies on different connections
// overtake each other. Races between requests that share a target show up
// far more often than on an idle loopback.
func (p *Proxy) Jitter(max time.Duration) { p.jitter.Store(int64(max)) }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every live connection and refuses new ones (they are accepted
// and closed at once) until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeAllLocked()
}

// Restore lets new connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	p.closeAllLocked()
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		if !refuse {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if refuse {
			_ = client.Close()
			continue
		}
		go p.forward(client)
	}
}

// forward connects client to the target and copies both ways until either
// side closes or the proxy cuts them.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		_ = client.Close()
		return
	}
	// A Cut while dialling must not leave this pair connected.
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go func() {
		_, _ = io.Copy(client, jittered{server, &p.jitter})
		done <- struct{}{}
	}()
	<-done
	// One direction ended: end both, so neither side hangs half-open.
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
	_ = client.Close()
	_ = server.Close()
	<-done
}

// jittered is a reader that pauses up to *max before handing over each chunk.
type jittered struct {
	r   io.Reader
	max *atomic.Int64
}

func (j jittered) Read(b []byte) (int, error) {
	n, err := j.r.Read(b)
	if max := j.max.Load(); max > 0 && n > 0 {
		time.Sleep(time.Duration(rand.Int64N(max)))
	}
	return n, err
}
