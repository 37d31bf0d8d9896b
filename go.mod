module github.com/sparkwing-dev/sparkwing

go 1.26.8

require github.com/goccy/go-yaml v1.19.2

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0 // indirect
)
