#!/usr/bin/env bash
# devproxy says Python 3.11+; CI's main run is on python3. This runs the suite without
# the browser tests (those are the same under every interpreter: Chromium and Vite do
# the work) under each newer CPython this machine has, on PATH or built by pyenv, each
# in its own venv. Prints which ran; none found is said, not hidden.
set -euo pipefail
cd "$(dirname "$0")/.."

main=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ran=()
for minor in 12 13 14 15; do
    version="3.$minor"
    [ "$version" = "$main" ] && continue
    python=""
    if command -v "python$version" >/dev/null && "python$version" -c '' 2>/dev/null; then
        python=$(command -v "python$version")
    else  # pyenv's shims answer only for its global version: a build of its own
        for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
            [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null && python=$candidate
        done
    fi
    [ -n "$python" ] || continue
    venv=".venv-$version"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e '.[test]'
    echo "== Python $version ($python): tests without the browser ones"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/e2e tests
    ran+=("$version")
done
if [ ${#ran[@]} -eq 0 ]; then
    echo "== no CPython newer than $main on this machine: only $main was tested"
else
    echo "== also tested on Python ${ran[*]}"
fi
