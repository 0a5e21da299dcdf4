package cli

import "flag"

// update is the one -update flag of this package's tests: every golden-file
// test in internal/cli uses it (`go test ./internal/cli -update`). Do not
// declare another.
var update = flag.Bool("update", false, "rewrite golden files and docs/man")
