// Command orderflow-bench measures OrderFlow against baselines taken in the
// same run on the same machine, and writes the results to bench/results/.
// Run `orderflow-bench --help` for its suites and settings; `make bench`
// runs it against throwaway servers.
package main
