# syntax=docker/dockerfile:1
# The web app's directory copied whole into the working directory, then
# its dependencies installed: every edit in it downloads them again. The
# second stage copies the manifests first, as meant.
FROM node:22 AS web
WORKDIR /web
COPY ./frontend .
# want: copy-before-deps
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npm run build

FROM node:22 AS admin
WORKDIR /admin
COPY admin/package.json admin/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY ./admin .
COPY ./Makefile .
RUN npm run build

FROM nginx:1.27
COPY --from=web /web/dist /usr/share/nginx/html
COPY --from=admin /admin/dist /usr/share/nginx/html/admin
