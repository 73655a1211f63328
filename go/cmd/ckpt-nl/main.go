// Command ckpt-nl checkpoints and restarts the identity of Linux process
// trees: every task's pid at every pid-namespace level, its parent, thread
// group, process group and session.
//
// Run "ckpt-nl help" for the commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes, documented in "ckpt-nl help".
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran and failed
	exitUsage    = 2 // bad command line
	exitMismatch = 3 // diff/verify: the two sides differ
)

// command is one subcommand: its help text and its code.
type command struct {
	name     string
	summary  string
	usage    string   // arguments after the name
	examples []string // each runs as written
	flags    func(fs *pflag.FlagSet)
	run      func(ctx *runContext, args []string) error
}

type runContext struct {
	stdout io.Writer
	stderr io.Writer
	fs     *pflag.FlagSet
}

// usageError is a bad command line; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError carries a specific exit code with a message (which may be empty
// when the command already printed what it had to say).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return exitOK
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "ckpt-nl: unknown command %q; run 'ckpt-nl help' for the list\n", args[0])
		return exitUsage
	}
	fs := pflag.NewFlagSet("ckpt-nl "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	help := fs.BoolP("help", "h", false, "show this help")
	if c.flags != nil {
		c.flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(stderr, "ckpt-nl %s: %v\nrun 'ckpt-nl %s --help' for usage\n", c.name, err, c.name)
		return exitUsage
	}
	if *help {
		printCommandHelp(stdout, c, fs)
		return exitOK
	}
	err := c.run(&runContext{stdout: stdout, stderr: stderr, fs: fs}, fs.Args())
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ckpt-nl %s: %s\nrun 'ckpt-nl %s --help' for usage\n", c.name, ue.msg, c.name)
		return exitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(stderr, "ckpt-nl %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "ckpt-nl %s: %v\n", c.name, err)
		return exitFailure
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "ckpt-nl checkpoints and restarts the identity of Linux process trees.\n\n")
	fmt.Fprintf(w, "Usage: ckpt-nl COMMAND [FLAGS] [ARGS]\n\nCommands:\n")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'ckpt-nl COMMAND --help' for a command's flags and examples.\n")
	fmt.Fprintf(w, "\nExit codes: %d ok, %d failure, %d bad usage, %d images or trees differ.\n",
		exitOK, exitFailure, exitUsage, exitMismatch)
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage: ckpt-nl %s", c.summary, c.name)
	if c.usage != "" {
		fmt.Fprintf(w, " %s", c.usage)
	}
	fmt.Fprintf(w, "\n\nFlags:\n%s", fs.FlagUsages())
	if len(c.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

func init() {
	register(&command{
		name:    "help",
		summary: "show the commands, or one command's help",
		usage:   "[COMMAND]",
		run: func(ctx *runContext, args []string) error {
			if len(args) == 0 {
				printHelp(ctx.stdout)
				return nil
			}
			c := lookup(args[0])
			if c == nil {
				return &usageError{fmt.Sprintf("unknown command %q", args[0])}
			}
			fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
			fs.SortFlags = false
			fs.BoolP("help", "h", false, "show this help")
			if c.flags != nil {
				c.flags(fs)
			}
			printCommandHelp(ctx.stdout, c, fs)
			return nil
		},
	})
}

// noArgs rejects positional arguments for commands that take none.
func noArgs(args []string) error {
	if len(args) > 0 {
		return &usageError{"unexpected arguments: " + strings.Join(args, " ")}
	}
	return nil
}
