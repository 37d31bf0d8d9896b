FROM golang:1.23 AS build
WORKDIR /src
COPY . .
# Near miss: nothing names VERSION, and the first step after it is a
# script, which may be the one that reads it.
ARG VERSION
RUN ./scripts/build.sh

FROM debian:12 AS package
# COMMIT is read by the script at the end, not by the package install
# before it: a new commit re-runs the install for nothing.
# want: early-arg
ARG COMMIT
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/out /out
RUN /out/stamp.sh
