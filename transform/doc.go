// Package transform turns rows read from a source database into Algoreg API
// inputs, validating and normalising them on the way.
//
// A job's query selects columns named after the API's fields (external_id,
// account_type, first_name, nationality_codes, fields, ...). [NewCustomers]
// checks those names once, before any row is read, and [Customers.Map] maps
// each row to a [load.Customer]. A row that cannot be sent yields a
// [*FieldError] naming the field, the offending value and a stable code: the
// pipeline records it and goes on with the next row.
//
// The rules, for every field:
//
//   - SQL NULL omits the field, and so leaves the stored value alone.
//   - Strings are trimmed of surrounding Unicode white space; a string that
//     is empty after trimming is omitted, never sent as "". A string that is
//     not valid UTF-8 is an error (code "invalid_utf8").
//   - A value whose Go type does not fit the field (a bool for first_name,
//     say) is an error (code "invalid_type") naming the SQL type received;
//     cast it in the query.
//
// Field by field, see the doc comment of [Customers.Map]. Not done yet:
// Unicode NFC normalisation and collapsing of inner white space, the array
// form of review_groups and contacts, name variations, and the checks that
// span fields (a firm needs a company_name, an individual a last_name).
//
// [HashCustomer] gives the content hash of what is sent for a customer, so
// that unchanged customers can be skipped.
package transform
