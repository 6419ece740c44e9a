# syntax=docker/dockerfile:1
# Gatehouse, for those who build with Docker: `docker build -t gatehouse .`
#
# The same image as `npm run image` (scripts/build-image.sh, which builds from scratch with
# buildah and is what the tests build and run): uid 10001, /data volume, a read-only root works,
# the container config at /etc/gatehouse, the same entrypoint. This file pulls its base images
# (Debian's node:24 for npm, Google's distroless Node.js 24 to run), which the environment the
# tests run in cannot, so it is not built there; test/unit/dockerfile.test.ts checks that it
# agrees with the buildah image and the Kubernetes manifests. See docs/upgrades.md.

ARG NODE_MAJOR=24

# Production dependencies only, from the lockfile. No install scripts: none of them has one.
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The app without its tests, and a /data owned by the user the image runs as.
FROM node:${NODE_MAJOR}-bookworm-slim AS app
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY edge/src ./edge/src
RUN find src -name '*.test.ts' -delete \
 && mkdir -p /data .compile-cache && chown 10001:10001 /data .compile-cache && chmod 0700 /data

# Distroless: Node.js, glibc, CA certificates and tzdata; no shell, no package manager.
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot
COPY --from=deps /app/node_modules /app/node_modules
COPY --from=app /app /app
COPY --from=app --chown=10001:10001 /app/.compile-cache /app/.compile-cache
COPY --from=app --chown=10001:10001 /data /data
COPY deploy/container/gatehouse.yaml /etc/gatehouse/gatehouse.yaml
# MALLOC_MMAP_THRESHOLD_: glibc serves every allocation of 1 MiB or more with its own mapping and
# returns it when freed; see bin/gatehouse.js.
ENV GATEHOUSE_CONFIG=/etc/gatehouse \
    NODE_COMPILE_CACHE=/app/.compile-cache \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    TZ=UTC \
    MALLOC_MMAP_THRESHOLD_=1048576
USER 10001:10001
WORKDIR /app
# Node's compile cache, filled once as the image's user (the cache's subdirectory is named after
# the uid) with the entrypoint's own flags; exec form, since there is no shell here.
RUN ["/nodejs/bin/node", "--use-system-ca", "--max-semi-space-size=4", "/app/bin/gatehouse.js", "check", "--config", "/etc/gatehouse/gatehouse.yaml"]
VOLUME /data
EXPOSE 4180/tcp 9464/tcp
ENTRYPOINT ["/nodejs/bin/node", "--use-system-ca", "--max-semi-space-size=4", "/app/bin/gatehouse.js"]
CMD ["serve"]
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="One small identity layer for a cluster: forward auth, sign-in, OIDC provider, OAuth 2.1 for MCP." \
      org.opencontainers.image.licenses="Apache-2.0"
