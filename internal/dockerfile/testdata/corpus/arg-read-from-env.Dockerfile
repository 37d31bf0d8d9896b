# syntax=docker/dockerfile:1
# ARGs the tools read from their environment, with pinned defaults, after
# the source copy, or followed by an inline comment: none is a finding.
FROM node:22-alpine
ARG NODE_ENV=production
ARG VITE_API_URL
ARG CDN_URL=https://cdn.example.com
ARG PNPM_VERSION=9.12.3
ARG APP_MODE=web # the bundle to build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
ARG GIT_COMMIT
RUN npm run build
