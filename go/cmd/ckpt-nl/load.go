package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
)

func init() {
	var module, params string
	register(&command{
		name:    "load",
		summary: "load the ckpt_pids kernel module",
		examples: []string{
			"ckpt-nl load",
			"ckpt-nl load --module ./ckpt_pids.ko",
		},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&module, "module", "", "load this .ko file instead of the installed module")
			fs.StringVar(&params, "params", "", "module parameters")
		},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if kmod.Loaded() {
				fmt.Fprintln(ctx.stdout, "ckpt_pids: already loaded")
				return nil
			}
			path, err := findModule(module)
			if err != nil {
				return err
			}
			if path == "" {
				out, err := exec.Command("modprobe", kmod.ModuleName).CombinedOutput()
				if err != nil {
					return fmt.Errorf("modprobe %s: %v: %s", kmod.ModuleName, err, out)
				}
				fmt.Fprintln(ctx.stdout, "ckpt_pids: loaded with modprobe")
				return nil
			}
			if err := kmod.LoadFile(path, params); err != nil {
				return err
			}
			fmt.Fprintf(ctx.stdout, "ckpt_pids: loaded from %s\n", path)
			return nil
		},
	})
	register(&command{
		name:     "unload",
		summary:  "unload the ckpt_pids kernel module",
		examples: []string{"ckpt-nl unload"},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := kmod.Unload(); err != nil {
				return err
			}
			fmt.Fprintln(ctx.stdout, "ckpt_pids: unloaded")
			return nil
		},
	})
}

// findModule picks the .ko to load: the one given, else one next to the
// binary or in the current directory (a build tree), else "" for modprobe.
func findModule(given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("module file: %w", err)
		}
		return given, nil
	}
	name := kmod.ModuleName + ".ko"
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), name))
	}
	candidates = append(candidates, name)
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return "", nil
}
