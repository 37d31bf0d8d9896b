# syntax=docker/dockerfile:1
FROM golang:1.22 AS build
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    go install github.com/a-h/templ/cmd/templ@v0.2.747
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    templ generate && go build -o /out/app .
FROM gcr.io/distroless/static
COPY --from=build /out/app /app
