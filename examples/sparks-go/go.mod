module github.com/sparkwing-dev/sparks-go

go 1.22

// The SDK at v0.0.0: the pipeline that imports this spark is compiled
// against the copy of the SDK inside its sparkwing, whatever this says.
require github.com/sparkwing-dev/sparkwing v0.0.0
