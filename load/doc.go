// Package load sends customers and relations to the Algoreg API.
//
// wire.go holds the wire types of the Save customers contract
// (POST /api/v1/customers/save); Client calls that endpoint and turns every
// answer other than 200 into an *APIError. The package load/algoregtest
// provides a strict local stand-in of the API for tests, the demo and the
// benchmarks.
package load
