# want: syntax-directive@1
# want: toolchain-final
FROM golang:1.22
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build ./...
