# syntax=docker/dockerfile:1
# The same install command over two different apps' manifests: two
# installs, not one done twice.
FROM node:22 AS admin
WORKDIR /app
COPY admin/package.json admin/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY admin/ .
RUN npm run build

FROM node:22 AS shop
WORKDIR /app
COPY shop/package.json shop/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY shop/ .
RUN npm run build

FROM nginx:1.27
COPY --from=admin /app/dist /usr/share/nginx/html/admin
COPY --from=shop /app/dist /usr/share/nginx/html/shop
