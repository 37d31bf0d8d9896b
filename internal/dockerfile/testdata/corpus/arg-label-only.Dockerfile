FROM alpine:3.20
# Only a LABEL names PRODUCT_VERSION: the apk layer below it re-runs on
# every release for nothing. The fix moves the LABEL down with the ARG.
# want: early-arg
ARG PRODUCT_VERSION
LABEL version=${PRODUCT_VERSION}
RUN apk add --no-cache ca-certificates tzdata
COPY dist/app /bin/app
# Near miss: declared below the install, the LABEL beside it.
FROM alpine:3.20 AS later
RUN apk add --no-cache ca-certificates
ARG PRODUCT_REVISION
LABEL revision=${PRODUCT_REVISION}
COPY dist/app /bin/app
