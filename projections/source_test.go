package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/mock"
)

// named is a replay source that only has a name: ReplayFrom chooses among
// sources and never reads them itself.
func named(name string) *mock.ReplaySource {
	return &mock.ReplaySource{NameFn: func() string { return name }}
}

// ReplayFrom reads the chosen source; auto falls back from the streams to
// the event store on a gap only, telling why, and any other failure of the
// streams is returned, not hidden by a second replay.
func TestReplayFromChoosesAndFallsBack(t *testing.T) {
	gap := fmt.Errorf("%w: product p-1 jumps from version 2 to 5", projections.ErrReplayGap)
	down := errors.New("Redis unreachable")
	for _, tc := range []struct {
		name      string
		choice    projections.SourceChoice
		streams   error // what a replay from the streams fails with
		wantReads []string
		wantFrom  string
		wantErr   error
		fellBack  bool
	}{
		{"auto, streams whole", projections.FromAuto, nil, []string{"streams"}, "streams", nil, false},
		{"auto, streams trimmed", projections.FromAuto, gap, []string{"streams", "event store"}, "event store", nil, true},
		{"auto, streams down", projections.FromAuto, down, []string{"streams"}, "", down, false},
		{"streams only, trimmed", projections.FromStreams, gap, []string{"streams"}, "", projections.ErrReplayGap, false},
		{"store only", projections.FromStore, gap, []string{"event store"}, "event store", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				reads    []string
				fellBack error
			)
			src := projections.Sources{
				Streams:  named("streams"),
				Store:    named("event store"),
				FellBack: func(reason error) { fellBack = reason },
			}
			sum, err := projections.ReplayFrom(context.Background(), tc.choice, src,
				func(_ context.Context, s projections.ReplaySource) (projections.ReplaySummary, error) {
					reads = append(reads, s.Name())
					if s.Name() == "streams" && tc.streams != nil {
						return projections.ReplaySummary{}, tc.streams
					}
					return projections.ReplaySummary{Source: s.Name()}, nil
				})
			if !slices.Equal(reads, tc.wantReads) {
				t.Errorf("replayed from %v, want %v", reads, tc.wantReads)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil || sum.Source != tc.wantFrom {
				t.Errorf("summary from %q, err %v; want from %q", sum.Source, err, tc.wantFrom)
			}
			if (fellBack != nil) != tc.fellBack || tc.fellBack && !errors.Is(fellBack, projections.ErrReplayGap) {
				t.Errorf("fell back with %v, want a fall-back: %v", fellBack, tc.fellBack)
			}
		})
	}
}

// An unknown choice is refused before anything is replayed.
func TestReplayFromRefusesAnUnknownSource(t *testing.T) {
	_, err := projections.ReplayFrom(context.Background(), "tape", projections.Sources{Streams: named("streams"), Store: named("event store")},
		func(context.Context, projections.ReplaySource) (projections.ReplaySummary, error) {
			t.Error("replayed from an unknown source")
			return projections.ReplaySummary{}, nil
		})
	if err == nil {
		t.Error("ReplayFrom(\"tape\") = nil, want an error")
	}
}
