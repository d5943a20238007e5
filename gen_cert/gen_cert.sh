#!/usr/bin/env bash
# Creates the server key and certificate signed by rootCA (run gen_root.sh first).
# Writes server.key, server.crt (used by d4-server and d4-web) and server.pem
# (certificate then key, the single file the Python server loads).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f rootCA.crt ] || [ ! -f rootCA.key ]; then
  echo "gen_cert: rootCA.crt/rootCA.key missing, run gen_root.sh first" >&2
  exit 1
fi
openssl genrsa -out server.key 4096 2>/dev/null
openssl req -new -key server.key -sha256 -config openssl.cnf -out server.csr
openssl x509 -req -in server.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial \
  -days 500 -sha256 -extfile server_ext.cnf -out server.crt 2>/dev/null
cat server.crt server.key > server.pem
chmod 600 server.key server.pem
echo "gen_cert: wrote $(pwd)/server.crt and server.key"
