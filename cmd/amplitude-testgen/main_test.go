package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// testNow is the fixed clock of every script, so that the default window
// and generated_at are the same on every run.
const testNow = "2024-01-16T12:00:00Z"

func TestMain(m *testing.M) {
	// The test binary doubles as the amplitude-testgen command that the
	// scripts exec, wired exactly as main() wires the real one.
	testscript.Main(m, map[string]func(){
		"amplitude-testgen": func() { os.Exit(run(os.Args[1:], realEnv())) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv(nowEnv, testNow)
			return nil
		},
	})
}
