// Command cgen writes Go constants for the #defines and enums of a kernel
// uapi header. It understands the subset of C that kmod/uapi/ckpt_pids.h
// uses: integer and string #defines, enums with implicit or explicit values
// (integers, shifts and earlier names), and "X_MAX (__X_MAX - 1)" macros.
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/ckpt-nl/ckpt-nl/go/cheader"
)

func main() {
	in := flag.String("in", "", "uapi header to read")
	out := flag.String("out", "", "Go file to write")
	pkg := flag.String("pkg", "uapi", "package name of the output")
	prefix := flag.String("prefix", "CKPT_PIDS_", "prefix the Go names drop")
	flag.Parse()
	if *in == "" || *out == "" {
		log.Fatal("cgen: -in and -out are required")
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		log.Fatalf("cgen: %v", err)
	}
	code, err := cheader.GoFile(src, *pkg, filepath.Base(*in), *prefix)
	if err != nil {
		log.Fatalf("cgen: %s: %v", *in, err)
	}
	if err := os.WriteFile(*out, code, 0o644); err != nil {
		log.Fatalf("cgen: %v", err)
	}
}
