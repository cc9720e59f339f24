package atomicfile_test

// 'go test ./... -update' hands -update to every test binary, and a binary
// that does not define the flag fails. goldie defines it (and -clean), so
// importing it here keeps the refresh command working for this package too.
import _ "github.com/sebdah/goldie/v2"
