FROM ubuntu:24.04 AS tools
# A default that names one fixed thing is pinned, digits or not: a new
# value comes only with an edit of this file, so declaring it early is
# an info, not a warning.
# want: early-arg
ARG BINARYEN_VERSION=version_125
RUN apt-get update && apt-get install -y --no-install-recommends cmake git && rm -rf /var/lib/apt/lists/*
RUN git clone https://github.com/WebAssembly/binaryen && cd binaryen && git checkout "$BINARYEN_VERSION"

FROM alpine:3.20 AS release
# A placeholder default (main, HEAD, UNSPECIFIED) stands in for what each
# build passes; RELEASE with none changes every release: both warnings.
# want: early-arg
ARG GIT_VERSION=main
# want: early-arg
ARG RELEASE
RUN apk add --no-cache curl
RUN curl -fsSLo /app "https://example.com/app-${RELEASE}-${GIT_VERSION}"
