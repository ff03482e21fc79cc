#!/usr/bin/env bash
# What the browser and dev-server tests need beyond Python packages, on a clean Debian
# machine as root: Debian's chromium (Playwright drives it; browser downloads are not
# possible here) and, when the Vite test app exists, its npm dependencies.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "install-e2e: installing chromium from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "install-e2e: /usr/bin/chromium is missing" >&2; exit 1; }

app=tests/e2e/vite-app
if [ -f "$app/package-lock.json" ]; then
  if [ ! -d "$app/node_modules" ] || [ "$app/package-lock.json" -nt "$app/node_modules" ]; then
    echo "install-e2e: npm ci in $app"
    (cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$app/node_modules"
  fi
fi
