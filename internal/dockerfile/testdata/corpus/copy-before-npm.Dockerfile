# syntax=docker/dockerfile:1
FROM node:20 AS build
WORKDIR /app
COPY . .
# want: copy-before-deps
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npm run build
