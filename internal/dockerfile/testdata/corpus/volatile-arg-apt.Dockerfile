FROM debian:12
# want: early-arg
ARG VERSION
# want: install-cleanup
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
RUN echo "$VERSION" > /etc/app-version
