package configs

import (
	_ "embed"
	"slices"
)

//go:embed example.yaml
var example []byte

// Example returns example.yaml, the reference of every key, as the binary
// holds it. Its queries are named relative to the repository's configs
// folder (../sql/example/customers.sql); package sql holds them too.
func Example() []byte { return slices.Clone(example) }
