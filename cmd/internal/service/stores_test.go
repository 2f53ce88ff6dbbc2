package service

import (
	"context"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
)

func TestStoresSettings(t *testing.T) {
	env := map[string]string{"ORDERFLOW_REDIS_URL": "redis://10.0.0.1:7000,10.0.0.2:7000"}
	fs := NewFlags("x", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var got Stores
	got.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err == nil || !strings.Contains(err.Error(), "ORDERFLOW_DATABASE_URL") {
		t.Errorf("Validate without a database URL = %v, want an error naming ORDERFLOW_DATABASE_URL", err)
	}
	if err := fs.Parse([]string{"--database-url=postgres://db/orderflow"}); err != nil {
		t.Fatal(err)
	}
	want := Stores{DatabaseURL: "postgres://db/orderflow", RedisURL: env["ORDERFLOW_REDIS_URL"]}
	if got != want {
		t.Errorf("settings = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestStoresOpen(t *testing.T) {
	ctx := context.Background()
	stores := Stores{DatabaseURL: pgtest.NewDatabase(t), RedisURL: redistest.URL(t)}

	t.Run("OpensAndCloses", func(t *testing.T) {
		conns, err := stores.Open(ctx, OpenOptions{MaxConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got := conns.Pool.Config().MaxConns; got != 3 {
			t.Errorf("pool MaxConns = %d, want 3", got)
		}
		if err := conns.Pool.Ping(ctx); err != nil {
			t.Errorf("PostgreSQL ping: %v", err)
		}
		if err := conns.Redis.Ping(ctx).Err(); err != nil {
			t.Errorf("Redis ping: %v", err)
		}
		conns.Close()
		if err := conns.Pool.Ping(ctx); err == nil {
			t.Error("the pool answers after Close")
		}
		if err := conns.Redis.Ping(ctx).Err(); err == nil {
			t.Error("the Redis client answers after Close")
		}
	})
	t.Run("BadDatabaseURL", func(t *testing.T) {
		bad := stores
		bad.DatabaseURL = "::not a URL"
		if conns, err := bad.Open(ctx, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "database URL") {
			conns.Close()
			t.Errorf("Open = %v, want a database URL error", err)
		}
	})
	t.Run("BadRedisURL", func(t *testing.T) {
		bad := stores
		bad.RedisURL = "ftp://127.0.0.1"
		if conns, err := bad.Open(ctx, OpenOptions{}); err == nil {
			conns.Close()
			t.Error("Open accepted an ftp:// Redis URL")
		}
	})
	t.Run("CloseNil", func(t *testing.T) {
		var conns *Conns
		conns.Close() // a Main whose Open failed closes nothing, without panicking
	})
}
