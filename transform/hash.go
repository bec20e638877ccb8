package transform

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/algoreg/algoreg-etl/load"
)

// Hash is the content hash of an API input: the first 16 bytes of the
// SHA-256 of its JSON encoding. Equal hashes mean the same content was sent.
//
// SHA-256 rather than a fast non-cryptographic hash such as FNV-128: the
// content comes from people (names, comments typed by staff or customers),
// and a change crafted to collide with the previous version would be
// skipped, silently; SHA-256 rules that out, it is in the standard library
// and, with hardware support, costs little next to JSON encoding. 16 bytes
// rather than 32: 128 bits leave no practical chance of an accidental
// collision between two versions of one record and halve what the state
// tables store per record. Anyone can recompute a hash from a customer's
// JSON as json.Marshal writes it, e.g. in PostgreSQL:
// substring(sha256(convert_to(json, 'UTF8')) for 16).
type Hash [16]byte

// String returns h in hexadecimal.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// HashCustomer returns the content hash of c. It covers exactly what is
// sent for c: its JSON encoding by encoding/json, in which omitted fields do
// not appear, so a field that is nil and one that is empty hash alike, as
// they are sent alike. A change of any sent value, or of the key order
// inside fields, changes the hash. It fails only if c holds raw JSON that is
// not valid, which a customer from [Customers.Map] never does.
func HashCustomer(c *load.Customer) (Hash, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return Hash{}, fmt.Errorf("transform: hashing customer %q: %w", c.ExternalID, err)
	}
	sum := sha256.Sum256(b)
	return Hash(sum[:16]), nil
}

// EncodeCustomer encodes c once for the request, setting c.Encoded (see
// [load.AppendCustomer]), and returns its content hash from those bytes:
// the same hash as [HashCustomer]'s, without encoding c a second time.
func EncodeCustomer(c *load.Customer) (Hash, error) {
	c.Encoded = nil
	b, err := load.AppendCustomer(nil, c)
	if err != nil {
		return Hash{}, fmt.Errorf("transform: hashing customer %q: %w", c.ExternalID, err)
	}
	c.Encoded = b
	return hashEncoded(b), nil
}

// hashEncoded returns the content hash of a value from its encoding as a
// request carries it. json.Marshal, whose encoding the hash covers, also
// escapes <, >, & and U+2028, U+2029 (in raw JSON fields, which are
// otherwise the same); those can only stand inside strings, so escaping
// them in the request's bytes gives exactly json.Marshal's.
func hashEncoded(b []byte) Hash {
	sum := sha256.Sum256(marshalled(b))
	return Hash(sum[:16])
}

// marshalled returns json.Marshal's encoding of a value from its encoding as
// a request carries it (see hashEncoded): b itself when they are the same.
func marshalled(b []byte) []byte {
	if !needsHTMLEscape(b) {
		return b
	}
	var buf bytes.Buffer
	buf.Grow(len(b) + 32)
	json.HTMLEscape(&buf, b)
	return buf.Bytes()
}

// needsHTMLEscape reports whether b holds a byte json.HTMLEscape changes.
func needsHTMLEscape(b []byte) bool {
	if bytes.IndexByte(b, '<') >= 0 || bytes.IndexByte(b, '>') >= 0 || bytes.IndexByte(b, '&') >= 0 {
		return true
	}
	for i := bytes.IndexByte(b, 0xE2); i >= 0; {
		if i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8 {
			return true
		}
		j := bytes.IndexByte(b[i+1:], 0xE2)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}
