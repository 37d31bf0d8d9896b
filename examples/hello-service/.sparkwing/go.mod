module example.com/hello/pipelines

go 1.22

require github.com/sparkwing-dev/sparkwing v0.0.0
