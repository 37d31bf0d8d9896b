# syntax=docker/dockerfile:1
# A stage built FROM a stage that copied the source re-runs everything on
# every source edit, so constant installs there belong above the copy.
FROM rust:1.82 AS src
WORKDIR /src
COPY . .

FROM src AS lint
# want: install-after-copy
# want: cache-mount
RUN cargo install cargo-deny --version 0.16.2 --locked
# want: install-after-copy
# want: install-cleanup
RUN apt-get update && apt-get install -y --no-install-recommends jq
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo deny check

FROM debian:12-slim
COPY --from=lint /src/deny.toml /deny.toml
