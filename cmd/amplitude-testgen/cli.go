package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// nowEnv names the variable that fixes the clock of a whole run. Tests set it
// so that the default window ("the last 24 hours") and generated_at are
// byte-stable; users set it to reproduce an earlier run exactly. Only
// realEnv reads it: the commands see nothing but env.now.
const nowEnv = "AMPLITUDE_TESTGEN_NOW"

// realEnv is the process's env: the real streams and variables, and the wall
// clock unless AMPLITUDE_TESTGEN_NOW fixes it.
func realEnv() *env {
	e := &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		now:    time.Now,
	}
	if v := os.Getenv(nowEnv); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			// A bad override must not silently fall back to the wall
			// clock: the run would look reproducible and not be.
			fmt.Fprintf(os.Stderr, "amplitude-testgen: invalid %s %q: want an RFC 3339 time such as 2024-01-16T12:00:00Z\n", nowEnv, v)
			os.Exit(exitUsage)
		}
		e.now = func() time.Time { return t }
	}
	return e
}

// cli describes one command's command line, for its usage text.
type cli struct {
	name    string   // the subcommand
	args    string   // the synopsis after the name, e.g. "[flags] FILE..."
	about   []string // paragraphs after the synopsis, wrapped when printed
	envVars [][2]string
	fs      *flag.FlagSet
}

// newCLI returns a command line whose flag set reports parse errors on
// stderr and leaves usage to parse (so that --help goes to stdout).
func newCLI(e *env, name, args string, about ...string) *cli {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	return &cli{name: name, args: args, about: about, fs: fs}
}

// usage writes the command's usage text: synopsis, description, flags in
// the --name form users type, and the environment variables it reads.
func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: amplitude-testgen %s %s\n", c.name, c.args)
	for _, p := range c.about {
		fmt.Fprintf(w, "\n%s\n", wrap(p, 78))
	}
	fmt.Fprintf(w, "\nflags:\n")
	c.fs.VisitAll(func(f *flag.Flag) {
		valueName, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if valueName != "" {
			line += " " + valueName
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, text)
	})
	fmt.Fprintf(w, "  --help\n      print this help and exit\n")
	if len(c.envVars) > 0 {
		fmt.Fprintf(w, "\nenvironment:\n")
		width := 0
		for _, v := range c.envVars {
			width = max(width, len(v[0]))
		}
		for _, v := range c.envVars {
			fmt.Fprintf(w, "  %-*s  %s\n", width, v[0], v[1])
		}
	}
}

// errHelp is returned by parse when --help was given and the usage printed:
// the command then stops with exit status 0.
var errHelp = errors.New("help requested")

// parse parses args, allowing flags after positional arguments
// (`expect data.json --json`) as users expect from most CLIs; everything
// after "--" is positional. It prints the usage to stdout for --help (and
// returns errHelp) and to stderr, after the flag package's message, for a
// parse error (and returns an exit-2 error already reported).
func (c *cli) parse(e *env, args []string) (positional []string, err error) {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage(e.stdout)
				return nil, errHelp
			}
			c.usage(e.stderr)
			return nil, usageErrorf("%w", errSilent)
		}
		rest := c.fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// set reports whether the flag was given on the command line, so that an
// explicit flag wins over its environment variable even when empty.
func (c *cli) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// fromFlagOrEnv returns the flag's value when given, else the variable's,
// and a name for the place it came from, for error messages.
func (c *cli) fromFlagOrEnv(e *env, flagName, envName string) (value, from string) {
	if c.set(flagName) {
		return c.fs.Lookup(flagName).Value.String(), "--" + flagName
	}
	return e.getenv(envName), envName
}

// helpResult turns errHelp into success, for a command's return.
func helpResult(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// plural returns "1 event" or "2 events".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}

// wrap fills a paragraph to lines of at most width columns, so usage text
// can embed constants such as timerange.Forms without breaking the layout.
func wrap(p string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(p) {
		switch {
		case n == 0:
		case n+1+len(word) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
