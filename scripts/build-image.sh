#!/usr/bin/env bash
# Builds the Gatehouse OCI image with buildah, from scratch: no base image is pulled and no
# registry is needed. What goes in, and nothing else:
#   - Node.js 24: the binary of the `node` devDependency (node_modules/node/bin/node), with the
#     shared libraries ldd says it links (glibc, libstdc++, libgcc_s) and the dynamic loader;
#   - the app (bin/, src/ without tests, package.json) and its production dependencies only
#     (npm ci --omit=dev, from package-lock.json);
#   - CA certificates (/etc/ssl/certs/ca-certificates.crt, read through --use-system-ca) and the
#     time zone database (/usr/share/zoneinfo), from this machine's Debian packages;
#   - /etc/passwd and /etc/group with the user gatehouse (10001:10001), a /data volume owned by
#     it (0700), an empty /tmp, and a config for a container (deploy/container/gatehouse.yaml) at
#     /etc/gatehouse, which a Kubernetes ConfigMap or a bind mount replaces.
#   - Node's compile cache, filled at build time (/app/.compile-cache, read-only at run time).
# It runs as that user and never writes outside /data and /tmp, so it runs with a read-only
# root filesystem (Kubernetes readOnlyRootFilesystem, `--read-only` elsewhere).
#
#   npm run image                      # builds localhost/gatehouse:<version>
#   IMAGE=registry.example/gatehouse:1 npm run image
#   npm run image -- --archive out.tar # also writes an OCI archive (docker load / skopeo copy)
#
# Needs: buildah (apt-get install buildah; scripts/install-e2e-deps.sh installs it), npm with
# access to the registry or its cache, and the `node` devDependency installed (npm install).
# Storage: the vfs driver (no overlay or fuse needed); BUILDAH_STORAGE_DRIVER overrides it.
set -euo pipefail

say() { printf '[build-image] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

archive=""
while [ $# -gt 0 ]; do
  case "$1" in
    --archive) archive="${2:?--archive needs a FILE}"; shift 2 ;;
    *) die "unknown argument: $1 (usage: build-image.sh [--archive FILE])" ;;
  esac
done

command -v buildah >/dev/null || die "buildah is not installed: apt-get install buildah (or bash scripts/install-e2e-deps.sh)"
node_bin="$(readlink -f node_modules/node/bin/node 2>/dev/null || true)"
[ -x "$node_bin" ] || die "node_modules/node/bin/node is missing: run npm install first (the image takes Node.js from the \`node\` devDependency)"
ldd "$node_bin" >/dev/null 2>&1 || die "$node_bin is not a dynamically linked executable ldd can read"
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "/etc/ssl/certs/ca-certificates.crt is missing: apt-get install ca-certificates"
[ -d /usr/share/zoneinfo ] || die "/usr/share/zoneinfo is missing: apt-get install tzdata"

version="$(node -p 'require("./package.json").version')"
node_version="$("$node_bin" --version)"
IMAGE="${IMAGE:-localhost/gatehouse:$version}"
driver="${BUILDAH_STORAGE_DRIVER:-vfs}"
bh() { buildah --storage-driver "$driver" "$@"; }
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- bin src package.json package-lock.json deploy/container 2>/dev/null)" ]; then revision="$revision-dirty"; fi
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# org.opencontainers.image.source: SOURCE_URL, else the checkout's origin remote, else left out.
source_url="${SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || true)}"
source_label=()
[ -n "$source_url" ] && source_label=(--label "org.opencontainers.image.source=$source_url")

stage="$(mktemp -d)"
ctr=""
cleanup() {
  [ -n "$ctr" ] && bh rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$stage"
}
trap cleanup EXIT

say "staging the root filesystem in $stage/rootfs"
rfs="$stage/rootfs"
mkdir -p "$rfs"/{app,data,tmp,run,proc,sys,dev,etc/gatehouse,etc/ssl/certs,usr/local/bin,usr/share}

# The app: what git tracks under bin/ and src/, without unit tests, and the edge package's
# source (`gatehouse doctor edge` checks a Worker's config with it).
git ls-files -z -- bin src edge/src package.json package-lock.json | while IFS= read -r -d '' f; do
  case "$f" in *.test.ts) continue ;; esac
  mkdir -p "$rfs/app/$(dirname "$f")"
  cp -p "$f" "$rfs/app/$f"
done
say "production dependencies (npm ci --omit=dev)"
(cd "$rfs/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2)
rm -f "$rfs/app/package-lock.json"

# Node.js and exactly the libraries it links, at the paths ldd resolved them to.
cp "$node_bin" "$rfs/usr/local/bin/node"
for lib in $(ldd "$node_bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
  mkdir -p "$rfs$(dirname "$lib")"
  cp -L "$lib" "$rfs$lib"
done
# glibc resolves names through /etc/nsswitch.conf (files, then DNS; both built into libc 2.34+).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/nonexistent:/nonexistent\ngatehouse:x:10001:10001:gatehouse:/data:/nonexistent\n' >"$rfs/etc/passwd"
printf 'root:x:0:\ngatehouse:x:10001:\n' >"$rfs/etc/group"
# Mount points a runtime binds over (they must exist when the root is read-only).
: >"$rfs/etc/hosts"; : >"$rfs/etc/resolv.conf"; : >"$rfs/etc/hostname"
cp /etc/ssl/certs/ca-certificates.crt "$rfs/etc/ssl/certs/ca-certificates.crt"
# The zone files without the leap-second "right/" copies, which nothing here reads.
cp -a /usr/share/zoneinfo "$rfs/usr/share/zoneinfo"
rm -rf "$rfs/usr/share/zoneinfo/right"
cp deploy/container/gatehouse.yaml "$rfs/etc/gatehouse/gatehouse.yaml"

chmod 0755 "$rfs" "$rfs/app" "$rfs/etc/gatehouse"
chmod 1777 "$rfs/tmp"
chmod 0700 "$rfs/data"
chown -R 0:0 "$rfs"
chown 10001:10001 "$rfs/data"
# Nothing in the image is writable by the user it runs as, except /data and /tmp.
chmod -R go-w "$rfs/app" "$rfs/etc" "$rfs/usr"

say "building $IMAGE from scratch (storage driver $driver)"
ctr="$(bh from --name "gatehouse-build-$$" scratch)"
# Copied through the mounted root, not `buildah copy`, which would make everything root's
# (and /data must stay the user's).
mnt="$(bh mount "$ctr")"
cp -a "$rfs/." "$mnt/"
bh umount "$ctr" >/dev/null
# Node's compile cache, filled once here by the image's own Node.js at the paths and with the
# flags the entrypoint uses (the cache is keyed by both): every start then reads the stripped
# TypeScript and its bytecode from /app/.compile-cache instead of loading the type-stripping
# compiler. A read-only directory serves it as well; measured: 111 MiB resident at idle instead
# of 135 MiB with an empty cache, which is what every new pod would otherwise start with.
# Node names the cache's subdirectory after the uid too, so it is filled as the image's user.
say "filling Node's compile cache"
mnt="$(bh mount "$ctr")"
install -d -o 10001 -g 10001 -m 0755 "$mnt/app/.compile-cache"
bh umount "$ctr" >/dev/null
bh run --isolation chroot --network host --user 10001:10001 \
  --env NODE_COMPILE_CACHE=/app/.compile-cache "$ctr" -- \
  /usr/local/bin/node --use-system-ca --max-semi-space-size=4 /app/bin/gatehouse.js check --config /etc/gatehouse/gatehouse.yaml >&2
mnt="$(bh mount "$ctr")"
ls -d "$mnt"/app/.compile-cache/*-10001 >/dev/null 2>&1 || die "the compile cache stayed empty"
chown -R 0:0 "$mnt/app/.compile-cache"
chmod -R go-w,a+rX "$mnt/app/.compile-cache"
# buildah run leaves its mount points behind; the image keeps only what it shipped.
rm -f "$mnt/run/.containerenv"
bh umount "$ctr" >/dev/null
bh config \
  --user 10001:10001 \
  --workingdir /app \
  --entrypoint '["/usr/local/bin/node", "--use-system-ca", "--max-semi-space-size=4", "/app/bin/gatehouse.js"]' \
  --cmd serve \
  --env GATEHOUSE_CONFIG=/etc/gatehouse \
  --env NODE_COMPILE_CACHE=/app/.compile-cache \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env TZ=UTC \
  --env MALLOC_MMAP_THRESHOLD_=1048576 \
  --port 4180/tcp --port 9464/tcp \
  --volume /data \
  --label org.opencontainers.image.title=gatehouse \
  --label "org.opencontainers.image.description=One small identity layer for a cluster: forward auth, sign-in, OIDC provider, OAuth 2.1 for MCP." \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.created=$created" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  "${source_label[@]}" \
  --label "org.opencontainers.image.base.name=scratch" \
  --label "io.gatehouse.node.version=$node_version" \
  "$ctr"
bh commit --quiet --format oci --rm "$ctr" "$IMAGE" >/dev/null
ctr=""

size="$(du -sb "$rfs" | cut -f1)"
say "built $IMAGE: $(numfmt --to=iec --suffix=B "$size") uncompressed (Node.js $node_version)"
if [ -n "$archive" ]; then
  rm -f "$archive"
  bh push --quiet "$IMAGE" "oci-archive:$archive:$IMAGE" >/dev/null
  say "wrote $archive ($(numfmt --to=iec --suffix=B "$(stat -c %s "$archive")"); gzip: $(numfmt --to=iec --suffix=B "$(gzip -c "$archive" | wc -c)"))"
fi
printf '%s\n' "$IMAGE"
