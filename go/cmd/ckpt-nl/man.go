package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// writeMan prints the ckpt-nl(1) manual page in roff, from the same
// command definitions as --help.
func writeMan(w io.Writer) error {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\e`)
		return strings.ReplaceAll(s, "-", `\-`)
	}
	var b strings.Builder
	b.WriteString(".TH CKPT-NL 1 \"\" \"ckpt-nl\" \"User Commands\"\n")
	b.WriteString(".SH NAME\nckpt\\-nl \\- checkpoint and restart the identity of Linux process trees\n")
	b.WriteString(".SH SYNOPSIS\n.B ckpt\\-nl\n.I COMMAND\n[\\fIFLAGS\\fR] [\\fIARGS\\fR]\n")
	b.WriteString(".SH DESCRIPTION\nckpt\\-nl snapshots every task's pid at every pid\\-namespace level, its parent, thread group, " +
		"process group and session, as shared pid objects, into a versioned image, and restarts such an image " +
		"with the same identity, recreating pids whose owners are gone with ghost tasks. Snapshots come from the " +
		"ckpt_pids kernel module, from BPF task iterators, or from /proc; restarts are validated in the kernel " +
		"when the module is loaded.\n")
	b.WriteString(".SH COMMANDS\n")
	cs := append([]*command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(&b, ".SS %s %s\n%s.\n", esc(c.name), esc(c.usage), esc(c.summary))
		fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
		fs.VisitAll(func(f *pflag.Flag) {
			name := "\\-\\-" + esc(f.Name)
			if f.Shorthand != "" {
				name = "\\-" + f.Shorthand + ", " + name
			}
			fmt.Fprintf(&b, ".TP\n.B %s\n%s", name, esc(f.Usage))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(&b, " (default %s)", esc(f.DefValue))
			}
			b.WriteString("\n")
		})
		for _, e := range c.examples {
			fmt.Fprintf(&b, ".PP\n.nf\n  %s\n.fi\n", esc(e))
		}
	}
	fmt.Fprintf(&b, ".SH EXIT STATUS\n%d: success; %d: failure; %d: bad command line; %d: diff or verify found differences.\n",
		exitOK, exitFailure, exitUsage, exitMismatch)
	b.WriteString(".SH SEE ALSO\ncriu(8), pstree(1)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func init() {
	register(&command{
		name:     "man",
		summary:  "print the ckpt-nl(1) manual page (roff)",
		examples: []string{"ckpt-nl man | man -l -"},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return writeMan(ctx.stdout)
		},
	})
}
