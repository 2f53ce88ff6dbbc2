// Package streams carries OrderFlow's events on Redis Streams in Watermill's
// redisstream format: the relay's publisher, the projector's subscriber,
// Router configuration and Watermill edge (Handler), the stream wire format
// (wire.go: the metadata every entry carries) and the names of every
// stream key (keys.go: streams, shards, checkpoints, dead letters), the
// streams' replay source and the consumer-lag sampler.
package streams
