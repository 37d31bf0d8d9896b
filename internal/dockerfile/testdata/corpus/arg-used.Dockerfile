FROM alpine:3.20
ARG ALPINE_MIRROR=https://dl-cdn.alpinelinux.org
RUN sed -i "s|https://dl-cdn.alpinelinux.org|${ALPINE_MIRROR}|" /etc/apk/repositories && apk add --no-cache git
