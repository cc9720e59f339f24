package main

// runExpect is a STUB: replace.
func runExpect(e *env, args []string) error { return failErrorf("not implemented") }
