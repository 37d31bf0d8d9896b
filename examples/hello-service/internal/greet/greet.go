// Package greet says hello in the languages of api/greetings.txt.
package greet

import (
	"fmt"

	"example.com/hello/internal/gen"
)

// Greet greets name in lang, falling back to English.
func Greet(lang, name string) string {
	g, ok := gen.Greetings[lang]
	if !ok {
		g = gen.Greetings["en"]
	}
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("%s, %s!", g, name)
}

// Languages is how many languages are known.
func Languages() int { return len(gen.Greetings) }
