FROM alpine:3.20
# want: early-arg
ARG GIT_SHA
RUN apk add --no-cache curl
COPY run.sh /run.sh
