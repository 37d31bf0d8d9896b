package sparkwing

import (
	"embed"
	"io/fs"
)

//go:embed *.go
var source embed.FS

// Source returns this package's own source files. The sparkwing CLI compiles
// Go pipelines against it, so building a pipeline needs no network.
func Source() fs.FS { return source }
