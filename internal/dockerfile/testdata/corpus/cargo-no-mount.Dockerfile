# want: toolchain-final
FROM rust:1.80 AS build
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
# want: cache-mount
RUN cargo fetch
COPY . .
# want: cache-mount
RUN cargo build --release
