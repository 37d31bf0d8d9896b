# syntax=docker/dockerfile:1
# Installs that empty their cache in the same RUN: a mount alone would be
# emptied at once, so the fix says to drop the cleaning too.
FROM node:22-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
# want: cache-mount
RUN npm ci && npm cache clean --force

FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
# want: cache-mount
RUN pip install -r requirements.txt && rm -rf /root/.cache/pip
COPY requirements-uv.txt .
RUN uv pip install --system --no-cache -r requirements-uv.txt
COPY --from=web /web/node_modules /app/node_modules
