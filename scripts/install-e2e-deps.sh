#!/usr/bin/env bash
# Installs what the end-to-end suites (test/e2e) and the benchmark (bench/) need, from Debian's
# own repositories only: nginx, Caddy, Chromium (driven by playwright-core), wrk, taskset,
# Apache with mod_auth_openidc (a real OpenID Connect relying party for the issuer), kubectl
# (kubernetes-client: `kubectl kustomize` renders deploy/kubernetes) and buildah (builds and runs
# the OCI image from scratch, without a registry: scripts/build-image.sh).
# Idempotent: safe to run again, and only runs apt-get when something is missing. Starts no
# service: the tests run their own nginx, Caddy and Apache on free high ports with all state in a
# temporary directory, so the packaged services are stopped and disabled in case the package
# scripts started them (they would otherwise hold port 80).
set -euo pipefail

say() { printf '[install-e2e-deps] %s\n' "$*"; }

packages=(nginx caddy chromium wrk util-linux ca-certificates apache2 libapache2-mod-auth-openidc buildah tzdata)
# Any kubectl will do (its built-in kustomize renders the manifests); Debian's only when there is
# none, since another package (a cloud SDK's kubectl) may already own /usr/bin/kubectl.
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "all packages already installed: ${packages[*]}"
else
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exit 101 tells invoke-rc.d not to start services during the install; removed
  # afterwards only if we created it.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  say "apt-get update"
  $SUDO apt-get update
  say "apt-get install -y --no-install-recommends ${packages[*]}"
  $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
fi

# Make sure no packaged service holds a port (port 80 for nginx, Caddy and Apache, 2019 for Caddy's
# admin).
for svc in nginx caddy apache2 apache-htcacheclean; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done

say "versions:"
nginx -v 2>&1 | sed 's/^/  /'
caddy version 2>&1 | sed 's/^/  /'
chromium --version 2>/dev/null | sed 's/^/  /'
wrk -v 2>&1 | head -n1 | sed 's/^/  /' || true
taskset --version 2>&1 | sed 's/^/  /'
/usr/sbin/apache2 -v 2>&1 | head -n1 | sed 's/^/  /'
dpkg-query -W -f='  mod_auth_openidc ${Version}\n' libapache2-mod-auth-openidc
kubectl version --client 2>&1 | head -n2 | sed 's/^/  /'
buildah --version 2>&1 | sed 's/^/  /'

# Fail here, not in the middle of a test run, if something is missing.
for bin in nginx caddy chromium wrk taskset kubectl buildah; do
  command -v "$bin" >/dev/null || { say "missing after install: $bin"; exit 1; }
done
[ -x /usr/bin/chromium ] || { say "expected /usr/bin/chromium"; exit 1; }
[ -x /usr/sbin/apache2 ] || { say "expected /usr/sbin/apache2"; exit 1; }
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || { say "expected /usr/lib/apache2/modules/mod_auth_openidc.so"; exit 1; }
say "done"
