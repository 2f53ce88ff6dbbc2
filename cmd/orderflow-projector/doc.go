// Command orderflow-projector keeps OrderFlow's cached read models current
// from the event streams, verifies them and manages parked events. Run
// `orderflow-projector --help`.
package main
