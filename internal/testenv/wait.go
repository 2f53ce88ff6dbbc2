package testenv

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor asks its condition again.
const pollInterval = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing tb with what and cond's last
// word when timeout passes first.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached within %s: %s", what, timeout, state)
		}
		time.Sleep(pollInterval) // the poll interval of a deadline loop, not a wait for an effect
	}
}
