FROM alpine:3.20
RUN apk add --no-cache curl
COPY run.sh /run.sh
# The only step a new VERSION re-runs is an echo, which costs nothing: an info.
# want: early-arg
ARG VERSION
LABEL version=$VERSION
ARG TARGETARCH
RUN echo building for $TARGETARCH
