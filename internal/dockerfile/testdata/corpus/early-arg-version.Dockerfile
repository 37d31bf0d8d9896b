FROM debian:12
# want: early-arg
ARG VERSION
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY app /usr/local/bin/app
LABEL org.opencontainers.image.version=$VERSION
