// Package algoregtest provides a local stand-in of the Algoreg Save customers
// API, as net/http/httptest does for HTTP servers: a Handler that keeps
// customers and relations in memory, and a Server that runs one on loopback
// for the length of a test.
//
// The Handler is strict on purpose: it rejects what a careful client never
// sends, so that tests catch our bugs. The contract
// (shared/algoreg-save-customers.md) does not give the real API's exact
// behaviour, so every rule below is our choice and is marked as such where
// the contract is silent.
//
// # Calls
//
// POST /api/v1/customers/save and POST /api/v1/token are served: other
// paths get 404, other methods 405 (with Allow: POST). A Save call must
// bear credentials (else 401, or 403 for a locked account; see
// "Credentials"). A Content-Type other than application/json gets 415 (our
// choice). A body over 32 MiB gets 413 (our choice; the contract gives no
// size limit). Every answer other than 200 has an {"errors": [...]} body
// holding, like the real API, a deprecated "v1" item first and a current
// "v2" item after it, so a client that reports the first item shows the
// wrong one.
//
// # Credentials
//
// As the vendor's authentication page describes, calls are made on behalf
// of a programmatic user (AddUser: an email and a key), in either of two
// ways, and the Handler also takes one static bearer token (NewHandler's;
// an empty one accepts nothing):
//
//   - Basic auth: "Authorization: Basic base64(email:key)" on every Save
//     call.
//   - The OAuth2 password grant: POST /api/v1/token with the JSON body
//     {"grant_type": "password", "username": email, "password": key}
//     answers {"access_token", "token_type": "Bearer", "expires_in"} (the
//     last in whole seconds, left out with AuthOptions.OmitExpiresIn, since
//     the vendor does not document it); Save calls then bear
//     "Authorization: Bearer <access_token>" until the token expires
//     (AuthOptions.TokenLifetime, an hour by default), after which they get
//     401 with the code CodeInvalidToken. A body that is not such an object
//     (unknown fields included) gets 400 invalid_request, another
//     grant_type 400 unsupported_grant_type.
//
// A wrong email or key gets 401 CodeInvalidGrant, at the token endpoint and
// on a Basic call alike. AuthOptions.LockAfter failed logins in a row (5
// by default) lock the account: every login then gets 403
// CodeAccountLocked, the right key included, until Unlock; tokens given
// before stay valid. TokenRequests, FailedLogins, Unauthorized and
// UserAgents let a test count what a client did. Token calls are not
// counted by Requests, CallTimes, MaxInFlight or Calls, and meet only the
// Latency of the faults.
//
// # The body
//
// The body is decoded strictly: malformed JSON, trailing data, a value of the
// wrong type, an unknown field, a field name in other letter case
// ("External_ID"; Go's encoding/json would accept it), a null top-level
// field, or a request with neither customers nor relations get 400.
//
// # Records
//
// Each customer and relation is checked on its own. A record that fails gets
// an entry in the answer's detail, keyed by its external_id (a relation by its
// relation_external_id), with one {error, detail} per problem, and is not
// stored; the others are. Codes are the Code constants of this package. The
// checks on a customer:
//
//   - external_id is required (CodeMissingField);
//   - no field may be null or a string that is empty or only white space,
//     including inside alias_ids and variations: a careful client omits what
//     it does not know (CodeNullValue, CodeEmptyValue);
//   - account_type is F or N; date_of_birth a real YYYY-MM-DD date;
//     nationality_codes and domicile_codes hold two upper-case ASCII letters
//     each (the shape of ISO 3166-1 alpha-2; the list of codes is not
//     checked); fields is a JSON object; each variation has _op "set" or
//     "del" and at least one name; review_groups and contacts are a
//     non-empty string whose parts split on ';' and ',' are all non-empty,
//     or an array of non-empty strings or objects (the contract does not
//     give the shape of a SaveCustomerDeltaArrayItemString) (CodeInvalidValue);
//   - parent_external_id names a customer that exists: stored, or accepted
//     earlier in the same call (CodeUnknownCustomer), and not the customer
//     itself (CodeInvalidValue). The contract is silent; we require parents
//     first, as the pipeline sends them;
//   - an external_id already seen in the same call is rejected the second
//     time, whether or not the first one passed (CodeDuplicate).
//
// The checks on a relation: relation_external_id, parent and child customer
// ids and relation_type are required; relation_type is a positive integer
// (the values of RelationsTypes are not in the contract); parent and child
// differ and both exist, stored or accepted in the same call
// (CodeUnknownCustomer); fields is an object; no null or empty strings; a
// relation_external_id seen earlier in the call is a duplicate.
//
// A customer of account type N (after the update) without a date of birth is
// stored with a warning WarnMissingDateOfBirth in its detail entry. The real
// API's warnings are not in the contract; this one exists so that the
// pipeline's warning path can be tested.
//
// # Storing
//
// Customers are upserted by external_id, relations by relation_external_id:
// a field present in the call replaces the stored value, whole (fields,
// variations, review_groups and contacts included: no merging inside them);
// an omitted field leaves it alone. A new customer gets a customer_id, an
// integer that increases from 1, and is listed in the answer's added; an
// update is not.
//
// With verify_input true the call is checked and answered the same way,
// added included (with customer_id 0: no id is given out), but nothing is
// stored. The answer echoes verify_input. Its status is StatusOK when every
// record passed (warnings allowed) and StatusPartial when any failed: the
// contract does not give the real values.
//
// A call is handled as a whole under one lock, so concurrent calls apply one
// after the other, each atomically.
//
// # Inspection and faults
//
// Customers, Relations and the counters let a test check what arrived;
// CallTimes and MaxInFlight show the traffic as the API saw it, for rate and
// concurrency tests. SetBeforeSave runs a hook on each decoded call, which
// may block to make calls finish out of order. FailNext queues faults:
// canned 5xx or 429 answers with Retry-After, dropped connections, and
// answers lost after the call was stored; FailFor serves a fault to every
// call for a while, as an API that is down would. SetFaults makes the Handler
// misbehave under load: added latency, random 500s and 429s (seeded), a cap
// on calls in flight (429 above it) and on records per call (413 above it).
// Poison makes every call holding a given record fail whole with 400, as a
// record the real API chokes on might.
//
// # Fast mode
//
// SetFast(true) skips the per-field checks and the store, for benchmarks of
// the client: a call is decoded, its ids checked and its records counted.
package algoregtest
