FROM debian:12 AS build
WORKDIR /src
COPY . .
# want: install-after-copy
# want: install-cleanup
RUN apt-get update && apt-get install -y curl git
RUN make
FROM debian:12-slim
COPY --from=build /src/out /app
