package projections_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/mock"
)

// Judge passes a verify that compared entries and found no drift, or that
// compared nothing because the log is empty; it fails one with drift, and
// one that compared nothing while the log holds events (the wrong Redis or
// key prefix, or every entry expired). The log is counted only when
// nothing was compared.
func TestJudge(t *testing.T) {
	errDown := errors.New("postgres down")
	for _, tc := range []struct {
		name         string
		drift        projections.Drift
		logged       int64
		countErr     error
		wantCounted  bool
		wantEmptyLog bool
		check        func(t *testing.T, err error)
	}{
		{name: "Agrees", drift: projections.Drift{Checked: 5, Rechecked: 1}, logged: 9, check: wantNil},
		{name: "Drifted", drift: projections.Drift{Checked: 5, Drifted: 3}, logged: 9, check: func(t *testing.T, err error) {
			var d *projections.DriftedError
			if !errors.As(err, &d) || d.Drifted != 3 || err.Error() != "3 cached projections drifted from PostgreSQL" {
				t.Errorf("err = %v, want a DriftedError of 3", err)
			}
		}},
		{name: "NothingComparedWhileLogged", logged: 9, wantCounted: true, check: func(t *testing.T, err error) {
			var u *projections.UnverifiedError
			if !errors.As(err, &u) || u.Logged != 9 || err.Error() != "verify checked no cached projection while the event log holds 9 events" {
				t.Errorf("err = %v, want an UnverifiedError of 9 events", err)
			}
		}},
		{name: "NothingComparedEmptyLog", wantCounted: true, wantEmptyLog: true, check: wantNil},
		{name: "CountFails", countErr: errDown, wantCounted: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, errDown) {
				t.Errorf("err = %v, want it to wrap %v", err, errDown)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counted := false
			log := &mock.ReplaySource{EstimateFn: func(context.Context) (int64, error) {
				counted = true
				return tc.logged, tc.countErr
			}}
			emptyLog, err := projections.Judge(context.Background(), tc.drift, log)
			tc.check(t, err)
			if emptyLog != tc.wantEmptyLog {
				t.Errorf("emptyLog = %v, want %v", emptyLog, tc.wantEmptyLog)
			}
			if counted != tc.wantCounted {
				t.Errorf("log counted = %v, want %v", counted, tc.wantCounted)
			}
		})
	}
}

func wantNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("err = %v, want nil", err)
	}
}
