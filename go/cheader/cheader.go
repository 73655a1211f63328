// Package cheader reads the integer and string constants of a small C
// header: #define NAME value and enum { ... } members, evaluating the
// constant expressions uapi headers use (+ - << >> | and parentheses).
package cheader

import (
	"bytes"
	"fmt"
	"go/format"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Const is one named constant of the header.
type Const struct {
	CName  string
	GoName string
	Int    int64
	Str    *string // non-nil for a string #define
}

var (
	commentRE = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	defineRE  = regexp.MustCompile(`(?m)^#define[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+(.+)$`)
	enumRE    = regexp.MustCompile(`(?s)enum[ \t\n]+[A-Za-z_0-9]*[ \t\n]*\{(.*?)\}`)
)

// Parse returns the constants of src in the order they appear, with Go
// names that drop prefix. Names that start with an underscore (include
// guards, __X_MAX counters) are evaluated but not returned.
func Parse(src []byte, prefix string) ([]Const, error) {
	text := commentRE.ReplaceAllString(string(src), " ")
	type item struct {
		pos  int
		name string
		expr string // enum members with no value get "prev + 1"
	}
	var items []item
	for _, m := range defineRE.FindAllStringSubmatchIndex(text, -1) {
		items = append(items, item{m[0], text[m[2]:m[3]], strings.TrimSpace(text[m[4]:m[5]])})
	}
	for _, m := range enumRE.FindAllStringSubmatchIndex(text, -1) {
		body := text[m[2]:m[3]]
		prev := ""
		for i, member := range strings.Split(body, ",") {
			member = strings.TrimSpace(member)
			if member == "" {
				continue
			}
			name, expr, hasValue := strings.Cut(member, "=")
			name = strings.TrimSpace(name)
			switch {
			case hasValue:
				expr = strings.TrimSpace(expr)
			case prev == "":
				expr = "0"
			default:
				expr = prev + " + 1"
			}
			items = append(items, item{m[0] + i, name, expr})
			prev = name
		}
	}
	// Order by position so that earlier names resolve first.
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].pos < items[j-1].pos; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}

	values := map[string]int64{}
	var out []Const
	for _, it := range items {
		if s, ok := stringLiteral(it.expr); ok {
			if !strings.HasPrefix(it.name, "_") {
				out = append(out, Const{CName: it.name, GoName: GoName(it.name, prefix), Str: &s})
			}
			continue
		}
		if it.expr == "" || it.name == it.expr {
			continue // include guards, "#define X X"
		}
		v, err := eval(it.expr, values)
		if err != nil {
			if strings.HasPrefix(it.name, "_") {
				continue
			}
			return nil, fmt.Errorf("%s: %w", it.name, err)
		}
		values[it.name] = v
		if !strings.HasPrefix(it.name, "_") {
			out = append(out, Const{CName: it.name, GoName: GoName(it.name, prefix), Int: v})
		}
	}
	return out, nil
}

func stringLiteral(expr string) (string, bool) {
	if len(expr) < 2 || expr[0] != '"' {
		return "", false
	}
	s, err := strconv.Unquote(expr)
	return s, err == nil
}

// GoName turns CKPT_PIDS_CMD_GET_FEATURES into CmdGetFeatures: the prefix
// (here "CKPT_PIDS_") goes, an A word becomes Attr (PID_A_TAG: PidAttrTag)
// and a leading F becomes Feature.
func GoName(c, prefix string) string {
	c = strings.TrimPrefix(c, prefix)
	words := strings.Split(strings.ToLower(c), "_")
	if words[0] == "f" {
		words[0] = "feature"
	}
	for i, w := range words {
		if w == "a" {
			words[i] = "attr"
		}
	}
	var b strings.Builder
	for _, w := range words {
		if w == "" {
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// eval computes a C constant expression over integers and known names.
func eval(expr string, names map[string]int64) (int64, error) {
	p := &parser{names: names}
	if err := p.lex(expr); err != nil {
		return 0, err
	}
	v, err := p.or()
	if err != nil {
		return 0, err
	}
	if p.pos != len(p.toks) {
		return 0, fmt.Errorf("unexpected %q in %q", p.toks[p.pos], expr)
	}
	return v, nil
}

type parser struct {
	toks  []string
	pos   int
	names map[string]int64
}

func (p *parser) lex(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '<' || c == '>':
			if i+1 >= len(s) || s[i+1] != c {
				return fmt.Errorf("unsupported operator at %q", s[i:])
			}
			p.toks = append(p.toks, s[i:i+2])
			i += 2
		case strings.IndexByte("()+-|", c) >= 0:
			p.toks = append(p.toks, string(c))
			i++
		case c == '_' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			p.toks = append(p.toks, s[i:j])
			i = j
		default:
			return fmt.Errorf("unsupported character %q in %q", c, s)
		}
	}
	return nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) or() (int64, error) {
	v, err := p.shift()
	for err == nil && p.peek() == "|" {
		p.pos++
		var r int64
		r, err = p.shift()
		v |= r
	}
	return v, err
}

func (p *parser) shift() (int64, error) {
	v, err := p.additive()
	for err == nil && (p.peek() == "<<" || p.peek() == ">>") {
		op := p.toks[p.pos]
		p.pos++
		var r int64
		if r, err = p.additive(); err != nil {
			break
		}
		if r < 0 || r > 62 {
			return 0, fmt.Errorf("shift by %d", r)
		}
		if op == "<<" {
			v <<= r
		} else {
			v >>= r
		}
	}
	return v, err
}

func (p *parser) additive() (int64, error) {
	v, err := p.unary()
	for err == nil && (p.peek() == "+" || p.peek() == "-") {
		op := p.toks[p.pos]
		p.pos++
		var r int64
		if r, err = p.unary(); err != nil {
			break
		}
		if op == "+" {
			v += r
		} else {
			v -= r
		}
	}
	return v, err
}

func (p *parser) unary() (int64, error) {
	t := p.peek()
	switch {
	case t == "":
		return 0, fmt.Errorf("unexpected end of expression")
	case t == "-":
		p.pos++
		v, err := p.unary()
		return -v, err
	case t == "(":
		p.pos++
		v, err := p.or()
		if err != nil {
			return 0, err
		}
		if p.peek() != ")" {
			return 0, fmt.Errorf("missing )")
		}
		p.pos++
		return v, nil
	case unicode.IsDigit(rune(t[0])):
		p.pos++
		num := strings.TrimRight(t, "uUlL")
		return strconv.ParseInt(num, 0, 64)
	default:
		p.pos++
		v, ok := p.names[t]
		if !ok {
			return 0, fmt.Errorf("unknown name %s", t)
		}
		return v, nil
	}
}

// GoFile returns formatted Go source declaring the constants of header src
// (named name in the "generated" comment) in package pkg, without prefix.
func GoFile(src []byte, pkg, name, prefix string) ([]byte, error) {
	consts, err := Parse(src, prefix)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by cgen from %s; DO NOT EDIT.\n\n", name)
	fmt.Fprintf(&b, "package %s\n\nconst (\n", pkg)
	for _, c := range consts {
		if c.Str != nil {
			fmt.Fprintf(&b, "\t%s = %q\n", c.GoName, *c.Str)
		} else {
			fmt.Fprintf(&b, "\t%s = %d\n", c.GoName, c.Int)
		}
	}
	b.WriteString(")\n")
	return format.Source(b.Bytes())
}
