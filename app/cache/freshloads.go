package cache

import (
	"context"
	"sync"
)

// freshLoads collapses the loads of readers that could not read the store
// (Redis down, or too slow on a busy machine). Such a reader saw no
// tombstone, so it cannot tell which writes it must see; joining a load
// already running could hand it a value older than a write acknowledged
// before it arrived. It joins only a load that has not begun yet: while one
// runs, every newcomer waits for the next, which starts when the running
// one ends. A burst then costs about two loads per key and process instead
// of one per reader, and every answer comes from a read that began after
// its reader arrived.
type freshLoads struct {
	mu   sync.Mutex
	keys map[string]*freshKey
}

type freshKey struct {
	running, next *freshLoad
}

type freshLoad struct {
	ctx  context.Context
	load rawLoader
	done chan struct{}
	data []byte
	ver  int64
	err  error
}

// do returns the result of a load of key that began after it was called.
func (f *freshLoads) do(ctx context.Context, key string, load rawLoader) ([]byte, int64, error) {
	f.mu.Lock()
	if f.keys == nil {
		f.keys = make(map[string]*freshKey)
	}
	k := f.keys[key]
	switch {
	case k == nil:
		l := newFreshLoad(ctx, load)
		f.keys[key] = &freshKey{running: l}
		f.mu.Unlock()
		f.run(key, l)
		return l.data, l.ver, l.err
	case k.next == nil:
		k.next = newFreshLoad(ctx, load)
	}
	l := k.next
	f.mu.Unlock()
	select {
	case <-l.done:
		return l.data, l.ver, l.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

func newFreshLoad(ctx context.Context, load rawLoader) *freshLoad {
	return &freshLoad{ctx: context.WithoutCancel(ctx), load: load, done: make(chan struct{})}
}

// run loads, hands the result to everyone waiting on l, and starts the next
// load if readers arrived meanwhile.
func (f *freshLoads) run(key string, l *freshLoad) {
	l.data, l.ver, l.err = l.load(l.ctx)
	close(l.done)
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[key]
	if k.next == nil {
		delete(f.keys, key)
		return
	}
	k.running, k.next = k.next, nil
	go f.run(key, k.running)
}
