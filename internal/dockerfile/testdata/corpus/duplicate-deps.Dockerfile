# syntax=docker/dockerfile:1
FROM node:20 AS test
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm test

FROM node:20 AS build
WORKDIR /app
COPY package.json package-lock.json ./
# want: duplicate-deps
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build

FROM nginx:1.27
COPY --from=build /app/dist /usr/share/nginx/html
