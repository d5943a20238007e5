#!/usr/bin/env bash
# Creates the root CA (rootCA.key, rootCA.crt) that signs the server certificate.
# Sensors verify the server against rootCA.crt (d4-client -cc, goclient -cc).
set -euo pipefail
cd "$(dirname "$0")"
openssl genrsa -out rootCA.key 4096 2>/dev/null
openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 1024 -config openssl.cnf \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out rootCA.crt
echo "gen_cert: wrote $(pwd)/rootCA.crt"
