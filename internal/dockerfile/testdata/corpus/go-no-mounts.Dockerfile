FROM golang:1.22 AS build
WORKDIR /src
COPY go.mod go.sum ./
# want: cache-mount
RUN go mod download
COPY . .
# want: cache-mount
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
