#!/usr/bin/env bash
# nginx and Caddy from Debian, for the `devproxy export` tests that run the exported
# configs for real. Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-proxies: installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system services; the tests run their own on free ports.
  for service in nginx caddy; do
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
  done
fi
