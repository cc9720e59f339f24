package main

// runFetchExport is a STUB: replace.
func runFetchExport(e *env, args []string) error { return failErrorf("not implemented") }
