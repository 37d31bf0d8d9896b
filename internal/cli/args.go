package cli

import (
	"strings"

	"github.com/spf13/pflag"
)

// splitArgs separates sparkwing's own flags (those defined in fs, wherever
// they appear) from the pipeline name and the pipeline's own arguments,
// which are everything else after the name, in order. So in
//
//	sparkwing run release -j 2 --version 1.2 --keep-going
//
// -j 2 and --keep-going are sparkwing's, and "--version 1.2" goes to the
// pipeline. A pipeline argument before the pipeline name is an error.
func splitArgs(fs *pflag.FlagSet, args []string) (own []string, name string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if name == "" && i+1 < len(args) {
				name, i = args[i+1], i+1
			}
			rest = append(rest, args[i+1:]...)
			break
		}
		f := lookupFlag(fs, a)
		switch {
		case f != nil:
			own = append(own, a)
			if takesValue(f) && !strings.Contains(a, "=") && !attachedShort(a) && i+1 < len(args) {
				own = append(own, args[i+1])
				i++
			}
		case name == "" && strings.HasPrefix(a, "-") && a != "-":
			return nil, "", nil, usageError("unknown flag %s (pipeline arguments go after the pipeline name; see --help)", a)
		case name == "":
			name = a
		default:
			rest = append(rest, a)
		}
	}
	return own, name, rest, nil
}

// lookupFlag finds the flag that arg sets, if it is one of fs's.
func lookupFlag(fs *pflag.FlagSet, arg string) *pflag.Flag {
	switch {
	case strings.HasPrefix(arg, "--") && len(arg) > 2:
		name, _, _ := strings.Cut(arg[2:], "=")
		return fs.Lookup(name)
	case strings.HasPrefix(arg, "-") && len(arg) >= 2 && arg[1] != '-':
		return fs.ShorthandLookup(arg[1:2])
	}
	return nil
}

func takesValue(f *pflag.Flag) bool { return f.NoOptDefVal == "" }

// attachedShort is -j4 or -C=dir: the value is in the same word.
func attachedShort(arg string) bool {
	return !strings.HasPrefix(arg, "--") && len(arg) > 2
}
