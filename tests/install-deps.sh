#!/usr/bin/env bash
# Installs, by package name, everything the test suite needs beyond the Rust toolchain.
# Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server redis-tools screen curl libpcap-dev openssl python3-pip >/dev/null
# Legacy-analyzer side of the interop tests: redis-py.
python3 -m pip install -q --disable-pip-version-check "redis>=5" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages "redis>=5"
