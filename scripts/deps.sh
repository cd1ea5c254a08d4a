#!/usr/bin/env bash
# Installs the Debian packages the build (and with `test`, the tests) need, if any is missing.
set -euo pipefail
need=()
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
[ -e /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
# The console's thumbnails.
[ -e /usr/include/png.h ] || need+=(libpng-dev)
[ -e /usr/include/webp/encode.h ] || need+=(libwebp-dev)
# make install-files: scripts/manpage.sh renders the man page with jq.
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ "${1:-}" = test ]; then
    # The unit-file tests (systemd-analyze), `make install` and scripts/systemd-test.sh.
    command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
    command -v make >/dev/null 2>&1 || need+=(make)
    # scripts/sdk-conformance.sh: a venv for Legnext's Python SDK (Debian's python3 has no
    # ensurepip, hence no `python3 -m venv`, without python3-venv).
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
    # scripts/systemd-test.sh: talks to the daemon over loopback in its own net namespace.
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    # scripts/browser-test.sh: the web console in a real browser.
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing ${need[*]} (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
