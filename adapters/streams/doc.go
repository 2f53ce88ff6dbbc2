// Package streams carries OrderFlow's events on Redis Streams in Watermill's
// redisstream format: the relay's publisher, and (with the projector) the
// subscriber and Router configuration.
package streams
