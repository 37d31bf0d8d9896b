# syntax=docker/dockerfile:1
FROM rust:1.80 AS chef
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo install cargo-chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo build --release

FROM debian:12-slim AS runtime
COPY --from=builder /app/target/release/app /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
