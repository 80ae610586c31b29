#!/usr/bin/env bash
# The client of the HTTP bridge example (16_http_bridge), run by the tour
# (scripts/demo.sh) and by its CTest test in place of the program itself:
#
#   examples/drivers/16_http_bridge.sh <server command...>
#
# It starts the server, reads the port from its first line
# ("Serving on http://127.0.0.1:<port>/") and drives it to its end with curl,
# one request after another, so that the server sees them in one order:
#   - it opens 20 requests; request 13 asks for a 200 ms timeout, the others
#     keep the server's default (300 s, longer than any test may run, so
#     that no answered request races its timeout);
#   - it resolves 18 of them, out of order;
#   - it sends a response for an id the server does not know (404);
#   - it withdraws request 20 (the server cancels its future);
#   - it never answers request 13, which times out by itself;
#   - it stops the server (GET /shutdown): the server accepts nothing more
#     and exits once every handler has ended, request 13's timeout included.
# Every status code is checked. The server's output is printed with the
# port replaced by PORT, so that it is the same in every run and language.
# Exits with the server's status, or 1 if an answer was not the expected one.
# Should the client itself be stopped (the tour's time limit), it stops the
# server it started, so that nothing is left listening.
set -uo pipefail

tmp=$(mktemp -d)
server=
cleanup() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

mkfifo "$tmp/out"
"$@" >"$tmp/out" &
server=$!
exec 3<"$tmp/out"
if ! IFS= read -r first <&3; then
  echo "http-bridge client: the server printed nothing" >&2
  wait "$server"
  server=
  exit 1
fi
port=$(sed -n 's|^Serving on http://127\.0\.0\.1:\([0-9][0-9]*\)/$|\1|p' <<<"$first")
if [[ -z $port ]]; then
  echo "http-bridge client: no port in the server's first line: $first" >&2
  exit 1
fi
# The rest of the output is collected meanwhile, so that the server never
# blocks on a full pipe.
cat <&3 >"$tmp/rest" &
reader=$!
exec 3<&-

bad=0
# get PATH STATUS: one request; its status must be STATUS.
get() {
  local code
  code=$(curl --silent --noproxy '*' --max-time 10 --output /dev/null \
    --write-out '%{http_code}' "http://127.0.0.1:$port$1")
  if [[ $code != "$2" ]]; then
    echo "http-bridge client: GET $1 answered $code, expected $2" >&2
    bad=1
  fi
}

for i in $(seq -w 1 20); do
  if [[ $i == 13 ]]; then
    get "/request/$i?timeout_ms=200" 202
  else
    get "/request/$i" 202
  fi
done
for i in 07 03 18 11 01 16 09 05 14 02 19 12 06 17 10 04 15 08; do
  get "/response/$i?text=answer-$i" 200
done
get "/response/99?text=nobody" 404
get "/cancel/20" 200
get "/shutdown" 200

wait "$server"
status=$?
server=
wait "$reader"
echo "${first/:$port\//:PORT/}"
cat "$tmp/rest"
if ((bad)); then
  exit 1
fi
exit "$status"
