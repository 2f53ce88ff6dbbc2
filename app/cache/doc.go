// Package cache is the cache engine every read model goes through: fenced
// get and set, get-or-load with stampede protection (singleflight in the
// process, a lease across processes), key generations for replay, the
// output cache of public responses, and the keys and expiry policy (absolute
// TTLs, sliding windows, the deployment's stock TTL) of every cached family. The store behind it (Redis) is a port, implemented by
// adapters/redis.
package cache
