package main

// runGenerate is a STUB: replace.
func runGenerate(e *env, args []string) error { return failErrorf("not implemented") }
