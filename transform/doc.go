// Package transform turns rows read from a source database into Algoreg API
// inputs, validating and normalising them on the way.
//
// A job's query selects columns named after the API's fields (external_id,
// account_type, first_name, nationality_codes, fields, variations, ...).
// [NewCustomers] checks those names once, before any row is read, and
// [Customers.Map] maps each row to a [load.Customer]. A row that cannot be
// sent yields a [*FieldError] naming the field, the offending value and a
// stable code: the pipeline records it and goes on with the next row.
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
// The normalisations, each detailed on [Customers.Map]:
//
//   - Names (first_name, middle_name, last_name, company_name, trading_name,
//     and the same names inside variations) are put in Unicode NFC, and
//     each run of Unicode white space inside them becomes one ASCII space:
//     "  Anne \u00a0 Marie " is sent as "Anne Marie", and "e" followed by
//     U+0301 (combining acute accent) as "é". Review group and contact
//     names are put in NFC too. Other text (comment, phone,
//     registration_number, ...) is only trimmed.
//   - Country codes are upper-cased; an officially assigned ISO 3166-1
//     alpha-3 code is sent as the alpha-2 code of the same country. The
//     conversion is unambiguous: an assigned alpha-3 code maps to exactly
//     one alpha-2 code (the table holds all 249 assigned codes, one to one).
//     Anything that is neither an accepted alpha-2 code nor an assigned
//     alpha-3 code is an error (code "invalid_country_code").
//   - A date of birth is sent as YYYY-MM-DD, from a date or timestamp
//     column, or from text holding a date or an ISO timestamp, whose date
//     part is taken as written (code "invalid_date" otherwise).
//   - account_type is "F" or "N", or a source value that
//     [Options.AccountTypes] maps to one of them. A firm needs a
//     company_name, an individual a last_name (code "missing" on the
//     missing field).
//   - review_groups and contacts come as text, the contract's string form
//     that the API splits on ";" and ",", or as text[], the array form: a
//     list of [DeltaItem]. The contract does not give the shape of an item;
//     ours is {"_op":"set","value":name}. A name holding ";" or "," must
//     come in the array form.
//   - variations come as a json array of name objects, each sent as a
//     [load.NameVariation] with _op "set" (code "invalid_variations"
//     otherwise).
//
// Removals: Map sends what the source holds now. [Delta] adds, given what
// was last sent for the same customer, "del" items for the review groups,
// contacts and name variations that are gone. It works only on the array
// forms: in the string form, the string replaces the whole list (our
// reading of the contract), so removals cannot be deltas.
//
// [HashCustomer] gives the content hash of what is sent for a customer, so
// that unchanged customers can be skipped.
package transform
