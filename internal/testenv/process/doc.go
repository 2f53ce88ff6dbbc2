// Package process runs OrderFlow's binaries (and the servers they need) as
// real processes, the way production runs them: the one process runner of
// the system tests, the tests of each cmd/ binary and orderflow-bench.
//
// It does not import testing, because orderflow-bench is a production
// binary that uses it; internal/testenv wraps it for tests (failing the
// test, stopping processes on cleanup).
//
//   - Build compiles orderflow-api, orderflow-relay and orderflow-projector
//     with one `go build`.
//   - New prepares a Process from a Spec: program, arguments, ORDERFLOW_
//     settings, and the variable that receives its HTTP address (a free
//     loopback port, kept across restarts). Start, Kill (SIGKILL), Stop
//     (SIGTERM, then SIGKILL after a timeout) and Restart drive it;
//     WaitReady polls /readyz; Wait waits for a one-shot command.
//   - Every process keeps the end of its output in a LogSink, which also
//     notices the race detector's reports and the "listening" log record;
//     Spec.Output and Spec.LogFile receive the whole output besides.
//   - CPU and PeakRSS read the process's CPU time and memory high-water
//     mark from /proc, for the benchmark.
package process
