# lameduck container image: a multi-stage build on Debian 12.
#   stage "build": compiles the release preset on debian:bookworm
#   final stage:   debian:bookworm-slim with only the shared libraries the
#                  binary links (no compiler, no shell tools added), running
#                  as a fixed non-root UID
# Build:  podman build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t lameduck .
# tests/image/run builds and runs it with podman, without Docker or a
# registry (docs/image.md).

FROM debian:bookworm AS build
ARG COMMIT=unknown
# The -dev packages of the libraries; no test libraries (the release
# preset builds no tests).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libcpp-httplib-dev libyaml-cpp-dev libspdlog-dev prometheus-cpp-dev \
      libhiredis-dev nlohmann-json3-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt CMakePresets.json ./
COPY src ./src
# No .git in the build context: the commit comes in as a build argument.
RUN cmake --preset release -DLAMEDUCK_COMMIT="${COMMIT}" \
 && cmake --build --preset release \
 && strip build/release/src/lameduck \
 && build/release/src/lameduck --version

FROM debian:bookworm-slim
ARG VERSION=unknown
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="lameduck" \
      org.opencontainers.image.description="Graceful-exit sidecar for Kubernetes pods" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# Only the runtime libraries the binary links:
# httplib pulls in libssl3, libbrotli1 and zlib1g itself.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 libhiredis0.14 libssl3 libbrotli1 zlib1g ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/lameduck/spool /etc/lameduck \
 && chown -R 65532:65532 /var/lib/lameduck
COPY --from=build /src/build/release/src/lameduck /usr/local/bin/lameduck
# A numeric UID, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 9901 9902
ENTRYPOINT ["lameduck"]
CMD ["run"]
