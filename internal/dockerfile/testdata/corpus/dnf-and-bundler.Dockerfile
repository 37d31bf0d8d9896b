FROM registry.access.redhat.com/ubi9/ubi AS base
# An OS install that leaves the dnf cache in the layer: an info.
# want: cache-mount
RUN dnf install -y git make
# Near miss: it cleans up after itself.
RUN dnf install -y jq && dnf clean all

FROM ruby:3.3-slim AS app
WORKDIR /app
COPY . .
# Bundler downloads what the Gemfile names after the whole source came in,
# and keeps nothing between builds.
# want: copy-before-deps
# want: cache-mount
RUN bundle install
# An OS install after the source copy re-runs with every edit.
# want: install-after-copy
# want: install-cleanup
RUN microdnf install -y tar
