package main

// runSend is a STUB: replace.
func runSend(e *env, args []string) error { return failErrorf("not implemented") }
