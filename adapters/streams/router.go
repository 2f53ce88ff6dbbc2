package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/redis/go-redis/v9"
)

// DefaultConsumerGroup is the one consumer group every projector instance joins.
const DefaultConsumerGroup = "orderflow-projector"

// MetaAttempts counts how often a handler ran on a parked entry.
const MetaAttempts = "attempts"

// ProjectorConfig configures the projector's Router around Watermill's
// traps (ADR 7, "Watermill's traps").
type ProjectorConfig struct {
	// SubscriberClient and DeadLetterClient are the projector's own: Close
	// of a Watermill subscriber or publisher closes the client it was given.
	SubscriberClient redis.UniversalClient
	DeadLetterClient redis.UniversalClient
	Keys             Keys
	ConsumerGroup    string
	// Consumer is this instance's stable name in the group.
	Consumer string
	// Workers is how many entries of each stream this instance projects at
	// once: each worker is a consumer of its own in the group (Consumer,
	// then Consumer.w2, …). A subscriber hands out one entry at a time, so
	// workers are what lets one instance keep up; version fencing makes
	// their interleaving harmless.
	Workers int
	// MaxRetries bounds the re-runs of a failing handler before parking;
	// 0 takes the default (3), a negative value means none.
	MaxRetries    int
	RetryInterval time.Duration
	// NackResendSleep pauses before a nacked entry is re-sent, so a failing
	// handler cannot spin a core.
	NackResendSleep time.Duration
	// MaxIdleTime is how long an entry stays pending before a peer claims it.
	MaxIdleTime time.Duration
	// CloseTimeout bounds the drain of running handlers on shutdown.
	CloseTimeout time.Duration
	Logger       *slog.Logger
}

func (c *ProjectorConfig) setDefaults() {
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = DefaultConsumerGroup
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.NackResendSleep == 0 {
		c.NackResendSleep = 250 * time.Millisecond
	}
	if c.MaxIdleTime == 0 {
		c.MaxIdleTime = 30 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports settings the Router cannot work with.
func (c ProjectorConfig) Validate() error {
	var errs []error
	if c.SubscriberClient == nil || c.DeadLetterClient == nil {
		errs = append(errs, errors.New("projector: a subscriber client and a dead-letter client are required"))
	}
	if c.SubscriberClient != nil && c.SubscriberClient == c.DeadLetterClient {
		errs = append(errs, errors.New("projector: the subscriber and the dead-letter publisher need their own clients"))
	}
	if c.Consumer == "" {
		errs = append(errs, errors.New("projector: a consumer name is required"))
	}
	return errors.Join(errs...)
}

// HandlerName is the stable Router handler name of an aggregate type's stream.
func HandlerName(aggregateType string) string { return "project-" + aggregateType }

// NewProjectorRouter returns a Router that feeds every event stream to
// handle, in one consumer group. Middleware, outermost first: the poison
// queue (parks an entry in the dead-letter stream), a bounded retry with
// backoff, an attempt counter, and the recoverer (a panic becomes an error
// that is retried, then parked).
func NewProjectorRouter(cfg ProjectorConfig, handle message.NoPublishHandlerFunc) (*message.Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := watermill.NewSlogLogger(cfg.Logger)
	subscribers := make([]*redisstream.Subscriber, cfg.Workers)
	for i := range subscribers {
		consumer := cfg.Consumer
		if i > 0 {
			consumer = fmt.Sprintf("%s.w%d", cfg.Consumer, i+1)
		}
		subscriber, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
			Client:                        cfg.SubscriberClient,
			Unmarshaller:                  parkingUnmarshaller{},
			Consumer:                      consumer,
			ConsumerGroup:                 cfg.ConsumerGroup,
			NackResendSleep:               cfg.NackResendSleep,
			BlockTime:                     100 * time.Millisecond,
			MaxIdleTime:                   cfg.MaxIdleTime,
			OldestId:                      "0",
			DisableIndefiniteInitialBlock: true,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("subscriber: %w", err)
		}
		subscribers[i] = subscriber
	}
	deadLetters, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: cfg.DeadLetterClient}, logger)
	if err != nil {
		return nil, fmt.Errorf("dead-letter publisher: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	poison, err := middleware.PoisonQueue(deadLetters, cfg.Keys.DeadLetterStream())
	if err != nil {
		return nil, fmt.Errorf("poison queue: %w", err)
	}
	router.AddMiddleware(
		poison,
		middleware.Retry{
			MaxRetries:      cfg.MaxRetries,
			InitialInterval: cfg.RetryInterval,
			MaxInterval:     2 * time.Second,
			Multiplier:      2,
			ShouldRetry:     func(p middleware.RetryParams) bool { return !errors.Is(p.Err, ErrPoisonEntry) },
			Logger:          logger,
		}.Middleware,
		countAttempts,
		middleware.Recoverer,
	)
	for i, subscriber := range subscribers {
		for shard := range cfg.Keys.Shards() {
			for _, aggregateType := range AggregateTypes() {
				name := HandlerName(aggregateType)
				if shard > 0 {
					name = fmt.Sprintf("%s.s%d", name, shard)
				}
				if i > 0 {
					name = fmt.Sprintf("%s.w%d", name, i+1)
				}
				router.AddConsumerHandler(name, cfg.Keys.ShardEventStream(aggregateType, shard), subscriber, handle)
			}
		}
	}
	return router, nil
}

// countAttempts records in the message how often the handler ran, so a
// parked entry says how hard it was tried.
func countAttempts(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		n, _ := strconv.Atoi(msg.Metadata.Get(MetaAttempts))
		msg.Metadata.Set(MetaAttempts, strconv.Itoa(n+1))
		return h(msg)
	}
}

// parkingUnmarshaller never fails: an entry Watermill cannot read becomes a
// message marked with the error, which the handler refuses at once and the
// poison queue parks. A failing unmarshal would close the subscription, and
// the entry would come back after every claim.
type parkingUnmarshaller struct{}

func (parkingUnmarshaller) Unmarshal(values map[string]any) (msg *message.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = unreadable(values, fmt.Errorf("unmarshal panicked: %v", r)), nil
		}
	}()
	msg, err = redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(values)
	if err != nil {
		return unreadable(values, err), nil
	}
	return msg, nil
}

func unreadable(values map[string]any, err error) *message.Message {
	raw, _ := json.Marshal(values)
	msg := message.NewMessage(watermill.NewUUID(), raw)
	msg.Metadata.Set(MetaUnmarshalError, err.Error())
	return msg
}
