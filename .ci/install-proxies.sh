#!/usr/bin/env bash
# nginx and Caddy from Debian's own packages, for tests/e2e/test_export_live.py, which
# validates and runs the configs `devproxy export` writes; curl, which runs the
# inspector's "copy as curl" commands in tests/test_inspector.py. Idempotent: installs only
# what is missing, and nothing at all when both are there. Uses sudo only when not root.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

missing=()
have nginx || missing+=(nginx)
have caddy || missing+=(caddy)
have curl || missing+=(curl)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-proxies: nginx, caddy and curl are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq

packages=()
for name in "${missing[@]}"; do
  if [ "$name" = nginx ] && apt-cache show nginx-light >/dev/null 2>&1; then
    packages+=(nginx-light)  # bookworm and older: the smallest build is enough
  else
    packages+=("$name")      # trixie and later ship a single nginx package
  fi
done
echo "install-proxies: installing ${packages[*]} from Debian"
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# The packages start system services on port 80; the tests run their own instances
# on free loopback ports, so stop the ones the install just started.
for service in nginx caddy; do
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    $sudo service "$service" stop >/dev/null 2>&1 || true
  fi
done
have nginx && have caddy
