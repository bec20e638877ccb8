// Package pipeline runs the jobs of algoreg-etl. One run of one job takes
// the job's lock, opens a run row, reads the window of changed rows from the
// source, maps them to customers, sends them to the Algoreg API in
// concurrent chunks, moves the watermark as chunks settle, and closes the
// run row with its counts.
//
// Every row read ends in exactly one of the run's counts: sent (accepted by
// the API), rejected (refused by the API for a reason it gave), invalid (not
// sendable, recorded with the field and the reason) or skipped (unchanged
// since it was last accepted). The watermark covers only rows so settled.
package pipeline
