# syntax=docker/dockerfile:1
FROM node:20
USER node
WORKDIR /home/node/app
COPY --chown=node package.json package-lock.json ./
RUN npm ci
