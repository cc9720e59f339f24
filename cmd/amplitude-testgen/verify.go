package main

// runVerify is a STUB: replace.
func runVerify(e *env, args []string) error { return failErrorf("not implemented") }
