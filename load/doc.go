// Package load sends customers and relations to the Algoreg API.
//
// wire.go holds the wire types of the Save customers contract
// (POST /api/v1/customers/save); Client calls that endpoint and turns every
// answer other than 200 into an *APIError. A Client authenticates as its
// Auth says: a static bearer token, Basic auth, or the OAuth2 password
// grant, whose token it fetches, shares among its callers and renews (see
// Client); credentials the API refuses give ErrUnauthorized and are never
// tried again. NewHTTPClient gives the *http.Client a bank's network needs:
// proxies from the environment, a private CA, a client certificate. A Sender sends one job's chunks
// through a Client the way the real world needs: it retries transient
// failures with backoff, keeps to a rate limit and to a fixed or adaptive
// (AIMD) concurrency limit, and splits a chunk the API refuses whole to
// isolate the records at fault. The package load/algoregtest provides a
// strict local stand-in of the API, with fault injection, for tests, the
// demo and the benchmarks.
package load
