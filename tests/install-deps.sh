#!/usr/bin/env bash
# Installs, by package name, everything the test suite needs beyond the Rust toolchain:
# Debian packages (apt), Python packages (PyPI) and the browser driver (npm).
# Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

echo "install-deps: Rust components (rustfmt, clippy: CI checks format and lints)"
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || echo "install-deps: rustup could not add rustfmt/clippy"
fi

echo "install-deps: Debian packages"
$SUDO apt-get update -qq
# redis-server/redis-tools: the reference store and redis-cli/redis-benchmark; screen: LAUNCH.sh;
# curl/openssl: tutorial and certificates; libpcap-dev: capture; tcl: Redis's own test suite;
# chromium: browser tests of the web admin; python3-pip: the Python side of interop tests;
# dnsdbq: the DNSDB v2 client run against the COF server's /dnsdb/v2 endpoints.
pkgs=(redis-server redis-tools screen curl openssl libpcap-dev tcl python3-pip chromium dpkg-dev dnsdbq)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then pkgs+=(nodejs npm); fi
$SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null

echo "install-deps: Python packages"
# redis: the legacy analyzer side (redis-py); bcrypt: password hashes as the Flask web writes
# them; pypdns: CIRCL's passive DNS client against our COF server.
py=(redis bcrypt pypdns)
python3 -m pip install -q --disable-pip-version-check "${py[@]}" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${py[@]}"
# redis-py 5.x beside the current one, in its own directory (PYTHONPATH), so d4-kv is tested
# with both the 5.x and the 8.x client generations legacy analyzers use.
python3 -m pip install -q --disable-pip-version-check --upgrade --target tests/.redis-py5 'redis>=5,<6'

echo "install-deps: npm packages"
# playwright-core drives Debian's /usr/bin/chromium; it downloads no browser of its own.
npm install --silent --no-audit --no-fund --prefix tests/browser >/dev/null
echo "install-deps: done"
