FROM alpine:3.20
RUN apk add --no-cache curl
COPY run.sh /run.sh
ARG VERSION
LABEL version=$VERSION
ARG TARGETARCH
RUN echo building for $TARGETARCH
