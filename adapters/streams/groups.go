package streams

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeepGroups re-creates the consumer group on every event stream (from the
// stream's start, creating an empty stream if need be) every interval until
// ctx ends. Watermill's subscriber creates its group only when it
// subscribes: after Redis lost its data (a restart without persistence, a
// failover to an empty replica) every read fails with NOGROUP and the
// projectors stall for good while they look healthy. The relay republishes
// the log from its start when its checkpoint is gone, so a group re-created
// at 0 projects everything again; fenced writes make that harmless.
func KeepGroups(ctx context.Context, client redis.UniversalClient, keys Keys, group string, interval time.Duration, logger *slog.Logger) {
	for {
		for _, stream := range keys.EventStreams() {
			err := client.XGroupCreateMkStream(ctx, stream, group, "0").Err()
			switch {
			case err == nil:
				// Missing: the first start, or Redis lost its data.
				logger.Info("created the consumer group from the stream's start", "stream", stream, "group", group)
			case strings.HasPrefix(err.Error(), "BUSYGROUP"), ctx.Err() != nil:
			default:
				logger.Debug("cannot check the consumer group", "stream", stream, "err", fmt.Errorf("xgroup create: %w", err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
