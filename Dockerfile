# lameduck container image: a multi-stage build on Debian 12.
#   stage "build": compiles the release preset on debian:bookworm and stages
#                  a root filesystem under /staging: the stripped binaries
#                  (`lameduck`, the static launcher, and `lameduck-main`),
#                  the shared libraries it links and the dynamic loader
#                  (resolved by ldd, copied with their paths), the CA
#                  certificates, and passwd/group entries for UID 65532
#   final stage:   FROM scratch with that root and nothing else (no shell,
#                  no package manager), running as a fixed non-root UID
# Build:  podman build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t lameduck .
# tests/image/run builds and runs it with podman, without Docker or a
# registry (docs/image.md).

FROM debian:bookworm AS build
ARG COMMIT=unknown
# The -dev packages of the libraries; no test libraries (the release
# preset builds no tests). ca-certificates for the bundle the image carries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config ca-certificates \
      libcpp-httplib-dev libyaml-cpp-dev libspdlog-dev prometheus-cpp-dev \
      libhiredis-dev nlohmann-json3-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt CMakePresets.json ./
COPY src ./src
# No .git in the build context: the commit comes in as a build argument.
RUN cmake --preset release -DLAMEDUCK_COMMIT="${COMMIT}" \
 && cmake --build --preset release \
 && strip build/release/src/lameduck build/release/src/lameduck-main \
 && build/release/src/lameduck --version
# The root of the final image. Every library ldd resolves (and the loader,
# the binary's PT_INTERP) is copied, symlinks followed, to the path ldd
# names, where the loader's default search finds it without ld.so.cache.
# Debian's libraries are stripped already. /usr/lib/ssl/cert.pem is where
# OpenSSL looks for the default CA bundle (OPENSSLDIR), as on Debian.
# nsswitch.conf keeps Debian's lookup order (/etc/hosts before DNS; glibc's
# built-in default without the file asks DNS first). The chroot runs the
# staged binary with nothing but the staged root, so a missing library
# fails the build here rather than the container at start.
RUN set -eu \
 && root=/staging \
 && install -D -m 0755 build/release/src/lameduck "$root/usr/local/bin/lameduck" \
 && install -D -m 0755 build/release/src/lameduck-main "$root/usr/local/bin/lameduck-main" \
 && ldd build/release/src/lameduck-main \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
      | while read -r lib; do cp --parents -L "$lib" "$root"; done \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" \
 && mkdir -p "$root/usr/lib/ssl" \
 && ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem" \
 && printf 'root:x:0:0:root:/:/nonexistent\nlameduck:x:65532:65532:lameduck:/var/lib/lameduck:/nonexistent\n' >"$root/etc/passwd" \
 && printf 'root:x:0:\nlameduck:x:65532:\n' >"$root/etc/group" \
 && printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf" \
 && mkdir -p "$root/var/lib/lameduck/spool" "$root/etc/lameduck" \
 && chown -R 65532:65532 "$root/var/lib/lameduck" \
 && chroot "$root" /usr/local/bin/lameduck --version \
 && find "$root" ! -type d | sort

FROM scratch
ARG VERSION=unknown
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="lameduck" \
      org.opencontainers.image.description="Graceful-exit sidecar for Kubernetes pods" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /staging/ /
# The exec hook and ENTRYPOINT name the binary without a path.
ENV PATH=/usr/local/bin
# A numeric UID, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 9901 9902
ENTRYPOINT ["lameduck"]
CMD ["run"]
