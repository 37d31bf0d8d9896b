# syntax=docker/dockerfile:1
# Toolchain commands behind shell keywords, flag values and wrappers are
# still the commands they wrap.
FROM node:22 AS web
WORKDIR /web
COPY package.json yarn.lock ./
# want: cache-mount
RUN if [ -f yarn.lock ]; then yarn --network-timeout 600000 install --frozen-lockfile; fi

FROM oven/bun:1 AS bunweb
WORKDIR /app
COPY package.json bun.lock ./
# want: cache-mount
RUN bun install --frozen-lockfile

FROM rust:1.82 AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# want: cache-mount
# want: copy-before-deps
RUN cargo auditable build --release

FROM python:3.12 AS wheels
WORKDIR /w
COPY requirements.txt .
# want: cache-mount
RUN for i in 1 2; do pip wheel -r requirements.txt -w /wheels && break; done

FROM gcr.io/distroless/cc
COPY --from=build /src/target/release/app /app
COPY --from=wheels /wheels /wheels
COPY --from=web /web /web
COPY --from=bunweb /app /bunweb
