package cli

import (
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cmd := newRunCmd(&env{}, &globals{})
	fs := cmd.Flags()
	fs.StringP("dir", "C", "", "")
	fs.BoolP("help", "h", false, "")
	for _, tc := range []struct {
		args      []string
		own, rest []string
		name      string
		wantErr   bool
	}{
		{args: []string{"build"}, name: "build"},
		{args: []string{"-j", "2", "release", "--version", "1.2", "--keep-going"},
			own: []string{"-j", "2", "--keep-going"}, name: "release", rest: []string{"--version", "1.2"}},
		{args: []string{"-j4", "b", "--only=x,y", "-C", "d", "--", "--jobs"},
			own: []string{"-j4", "--only=x,y", "-C", "d"}, name: "b", rest: []string{"--jobs"}},
		{args: []string{"--", "b", "-j", "3"}, name: "b", rest: []string{"-j", "3"}},
		{args: []string{"--version", "1", "b"}, wantErr: true},
	} {
		own, name, rest, err := splitArgs(fs, tc.args)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v", tc.args, err)
		}
		if tc.wantErr {
			continue
		}
		if !reflect.DeepEqual(own, tc.own) || name != tc.name || !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("%v: own %q name %q rest %q", tc.args, own, name, rest)
		}
	}
}
