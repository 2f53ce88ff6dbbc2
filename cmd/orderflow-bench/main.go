// Command orderflow-bench measures OrderFlow against baselines taken in the
// same run on the same machine, and writes the results to bench/results/.
// Run `orderflow-bench --help` for its suites and settings; `make bench`
// runs it against throwaway servers.
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
	m := NewMain(os.Stdout, os.Stderr, os.LookupEnv)
	os.Exit(service.ExitCode(m.Run(ctx, os.Args[1:]), os.Stderr))
}
