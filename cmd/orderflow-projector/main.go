// Command orderflow-projector keeps OrderFlow's cached read models current
// from the event streams, verifies them and manages parked events. Run
// `orderflow-projector --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code, ok := service.RunProbe(ctx, os.Args[1:], os.Stderr); ok {
		os.Exit(code)
	}
	m := NewMain(os.Stdout, os.Stderr, os.LookupEnv)
	os.Exit(service.ExitCode(m.Run(ctx, os.Args[1:]), os.Stderr))
}
