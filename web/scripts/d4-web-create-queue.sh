#!/usr/bin/env bash
# Logs in to d4-web with curl (form + CSRF token + session cookie), changes the password
# if the account must, creates an analyzer queue and prints its uuid on stdout.
#
#   web/scripts/d4-web-create-queue.sh [-u URL] [-f DEFAULT_PASSWORD | -e EMAIL -p PASSWORD]
#       [-n NEW_PASSWORD] [-t TYPE] [-q QUEUE_UUID] [-d DESCRIPTION] [-c CACERT]
#
# Defaults: URL https://127.0.0.1:7000, credentials from ./DEFAULT_PASSWORD, type 8,
# a generated queue uuid, TLS verification off unless -c names the root CA.
set -euo pipefail
URL=https://127.0.0.1:7000
FILE=DEFAULT_PASSWORD
EMAIL="" PASS="" NEWPASS="" TYPE=8 QUEUE="" DESC="" CACERT=""
while getopts "u:f:e:p:n:t:q:d:c:h" o; do
  case "$o" in
    u) URL=$OPTARG ;; f) FILE=$OPTARG ;; e) EMAIL=$OPTARG ;; p) PASS=$OPTARG ;;
    n) NEWPASS=$OPTARG ;; t) TYPE=$OPTARG ;; q) QUEUE=$OPTARG ;; d) DESC=$OPTARG ;;
    c) CACERT=$OPTARG ;; *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
if [ -z "$EMAIL" ]; then
  EMAIL=$(sed -n 's/^email=//p' "$FILE")
  PASS=$(sed -n 's/^password=//p' "$FILE")
fi
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
tls=(-k); [ -n "$CACERT" ] && tls=(--cacert "$CACERT")
c() { curl -sS "${tls[@]}" -c "$jar" -b "$jar" "$@"; }
csrf() { sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1; }
# POST a form; prints "<status> <redirect path>".
post() {
  local path=$1; shift
  c -o /dev/null -w '%{http_code} %{redirect_url}\n' "$@" "$URL$path" | sed "s#$URL##"
}

tok=$(c "$URL/login" | csrf)
read -r code loc < <(post /login --data-urlencode "csrf_token=$tok" \
  --data-urlencode "username=$EMAIL" --data-urlencode "password=$PASS" --data-urlencode "next_page=")
[ "$code" = 302 ] || { echo "login failed (HTTP $code)" >&2; exit 1; }
if [ "$loc" = /change_password ]; then
  [ -n "$NEWPASS" ] || { echo "password change required: pass -n NEW_PASSWORD" >&2; exit 1; }
  tok=$(c "$URL/change_password" | csrf)
  read -r code loc < <(post /change_password --data-urlencode "csrf_token=$tok" \
    --data-urlencode "password1=$NEWPASS" --data-urlencode "password2=$NEWPASS")
  [ "$code" = 302 ] || { echo "password change refused (HTTP $code)" >&2; exit 1; }
fi
tok=$(c "$URL/server_management" | csrf)
read -r code loc < <(post /analyzer_queue/create_queue_post --data-urlencode "csrf_token=$tok" \
  --data-urlencode "analyzer_type=$TYPE" --data-urlencode "analyzer_uuid=$QUEUE" \
  --data-urlencode "description=$DESC")
case "$loc" in
  /server_management*#*) echo "${loc##*#}" ;;
  *) echo "queue creation failed (HTTP $code)" >&2; exit 1 ;;
esac
