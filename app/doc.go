// Package app is what every OrderFlow use case shares: the Application that
// transports hold, the commands' intents and the read representations, the
// ports to the event store and the read tables, the errors a use case
// reports, authorisation, request metadata and the event codec. The use
// cases themselves live in app/command and app/query; the engines they run
// on in app/cache (the cache) and app/relay (the outbox relay); the table of
// what each event changes in app/effects. Nothing here knows SQL, Redis,
// the stream wire format or HTTP.
package app
