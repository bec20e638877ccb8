// Package configs reads the YAML file that describes a deployment of
// algoreg-etl: the source database, the state database, the Algoreg tenant,
// and the jobs with their queries and schedules. example.yaml, next to this
// file, is the reference of every key. DefaultJob gives a job with every
// default filled in, for programs and tests that build jobs in code.
//
// # Strictness
//
// A key the package does not know is an error, as is a key given twice; each
// error names the file, the line and, inside a job, the job. Load and Parse
// report every problem of a file at once, joined with errors.Join, so that a
// user fixes them in one pass.
//
// # Environment variables
//
// ${NAME} in a value is replaced by the environment variable NAME, so that
// passwords and tokens stay out of the file. The rules:
//
//   - Expansion happens after the YAML is parsed, on each value: a value that
//     holds YAML's special characters ('#', ': ', quotes) is used as it is,
//     never parsed as YAML. Keys are not expanded.
//   - NAME is a letter or '_' followed by letters, digits or '_'.
//   - A variable that is not set is an error naming it and the line. A
//     variable set to the empty string expands to the empty string.
//   - "$$" gives a single '$'. A '$' followed by anything but '{' or '$' is
//     kept as it is, so "pa$word" needs no escaping; "${" must start a valid
//     ${NAME}.
//   - The value of a variable is not expanded again.
//   - An unquoted value made of variables is typed after expansion: with
//     CHUNK=500, "chunk_size: ${CHUNK}" is the number 500.
//
// # Secrets
//
// The Algoreg token and key are Secrets and the database connection strings
// are DSNs: their String, Format, LogValue and JSON forms hide the token,
// the key and the passwords, so that a Config can be printed and logged.
// Reveal returns the real value, for the one place that needs it.
//
// Each secret may also come from a file, so that systemd credentials
// (LoadCredential=, under $CREDENTIALS_DIRECTORY) and Kubernetes secret
// mounts work without environment variables: algoreg.token_file,
// algoreg.password_file, source.password_file and state.password_file
// (whose content becomes the DSN's password). A relative path is resolved
// against the config file's folder; the file is read when the config is
// loaded; its trailing line break is ignored, and a file that is empty or
// holds several lines is an error. A DSN may also name a libpq password
// file with passfile=.
package configs
