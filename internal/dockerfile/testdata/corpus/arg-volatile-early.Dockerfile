# syntax=docker/dockerfile:1
# A volatile ARG nothing names, and a make variable that changes every
# build, both before the package install: each new value re-runs it.
FROM debian:12
# want: early-arg
ARG LDFLAGS
# want: early-arg
ARG CI_COMMIT_SHA
ARG RUSTUP_VERSION=1.28.1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt
COPY . /src
RUN make -C /src
