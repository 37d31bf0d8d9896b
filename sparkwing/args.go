package sparkwing

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// fresh returns a copy of a registered pipeline, so parsing arguments never
// changes the registered defaults.
func fresh(p Pipeline) Pipeline {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return p
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(Pipeline)
}

// argFlags turns the exported fields of the pipeline struct into flags:
// field VersionTag becomes --version-tag, or the name in a `flag:"..."` tag;
// a `help:"..."` tag is its usage text. The field's value at registration is
// the default. Supported types: string, bool, int, int64, float64,
// time.Duration and []string (repeat the flag).
func argFlags(name string, pipeline Pipeline) (*flag.FlagSet, []WireArg, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, and help is the engine's
	fs.Usage = func() {}
	v := reflect.ValueOf(pipeline)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fs, nil, nil
	}
	var args []WireArg
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Tag.Get("flag") == "-" {
			continue
		}
		if !v.Field(i).CanAddr() {
			return nil, nil, fmt.Errorf("register a pointer (&%s{}) so its fields can be set from arguments", name)
		}
		arg := WireArg{Name: flagName(f), Usage: f.Tag.Get("help")}
		if err := defineFlag(fs, v.Field(i).Addr().Interface(), &arg); err != nil {
			return nil, nil, fmt.Errorf("field %s.%s: %w", name, f.Name, err)
		}
		args = append(args, arg)
	}
	return fs, args, nil
}

func defineFlag(fs *flag.FlagSet, ptr any, arg *WireArg) error {
	switch p := ptr.(type) {
	case *string:
		fs.StringVar(p, arg.Name, *p, arg.Usage)
		arg.Type = "string"
	case *bool:
		fs.BoolVar(p, arg.Name, *p, arg.Usage)
		arg.Type = "bool"
	case *int:
		fs.IntVar(p, arg.Name, *p, arg.Usage)
		arg.Type = "int"
	case *int64:
		fs.Int64Var(p, arg.Name, *p, arg.Usage)
		arg.Type = "int"
	case *float64:
		fs.Float64Var(p, arg.Name, *p, arg.Usage)
		arg.Type = "float"
	case *time.Duration:
		fs.DurationVar(p, arg.Name, *p, arg.Usage)
		arg.Type = "duration"
	case *[]string:
		fs.Var(&stringList{list: p}, arg.Name, arg.Usage)
		arg.Type = "strings"
	default:
		return fmt.Errorf("unsupported argument type %T (use string, bool, int, int64, float64, time.Duration or []string, or tag it `flag:\"-\"`)", ptr)
	}
	return nil
}

// flagName is the field's `flag` tag, or its name in kebab case.
func flagName(f reflect.StructField) string {
	if tag := f.Tag.Get("flag"); tag != "" {
		return tag
	}
	var b strings.Builder
	runes := []rune(f.Name)
	for i, r := range runes {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(runes[i-1]) ||
			(i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// stringList is a repeatable flag; the first use replaces the default.
type stringList struct {
	list *[]string
	set  bool
}

func (s *stringList) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}

func (s *stringList) Set(v string) error {
	if !s.set {
		*s.list, s.set = nil, true
	}
	*s.list = append(*s.list, v)
	return nil
}
