# syntax=docker/dockerfile:1
# A volatile ARG handed on by ENV at once: every RUN below sees the new
# value through the ENV, so the package install re-runs on each build.
FROM debian:12-slim
# want: early-arg
ARG VERSION
ENV APP_VERSION=$VERSION
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY app /usr/local/bin/app
RUN echo "$APP_VERSION" > /etc/app-version
