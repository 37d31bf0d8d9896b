module example.com/hello/pipelines

go 1.22

require github.com/sparkwing-dev/sparkwing v0.0.0

// The go-service spark (sparkwing.yaml, sparks:) from its copy in this
// repository: a local spark, as while developing one. Without this line it
// would be resolved from the module proxy at the version sparks: names.
replace github.com/sparkwing-dev/sparks-go => ../../sparks-go
