package greet

import "testing"

func TestGreet(t *testing.T) {
	for _, tc := range []struct{ lang, name, want string }{
		{"fr", "Ada", "Bonjour, Ada!"},
		{"xx", "Ada", "Hello, Ada!"},
		{"en", "", "Hello, world!"},
	} {
		if got := Greet(tc.lang, tc.name); got != tc.want {
			t.Errorf("Greet(%q, %q) = %q, want %q", tc.lang, tc.name, got, tc.want)
		}
	}
}
