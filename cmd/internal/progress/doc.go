// Package progress shows how far a long job has got (seeding, replay, the
// benchmark's phases), the same way in every binary. On a terminal it draws
// a bar with the count, the rate and the time left, redrawn in place;
// anywhere else (CI logs, pipes, files) it prints a plain line now and then
// with the same figures, because a log cannot be redrawn.
//
// The bar is github.com/schollz/progressbar/v3, not github.com/vbauerster/mpb/v8:
// every job here runs its phases one after another, so mpb's concurrent bars
// and decorator pipeline buy nothing, while progressbar is one type whose
// options give the count, the rate and the ETA. Callers count with a lock-free
// Add; one goroutine per job hands the count to the bar or prints the line, so
// a benchmark's clients never wait on the terminal.
package progress
