# want: syntax-directive@1
FROM alpine:3.20
RUN <<EOT
  set -e
  apk add --no-cache git
EOT
COPY --link app /app
