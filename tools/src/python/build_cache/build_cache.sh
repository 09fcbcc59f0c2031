#!/usr/bin/env bash
# A shared build cache on this machine: BuildGrid (a Remote Execution API server, pinned in
# 3rdparty/python/build-cache.lock) serving Pants its CAS and ActionCache on 127.0.0.1.
#   bin/build-cache start  [--port N] [--dir DIR] [--token-secret FILE]
#                                                  start it; prints the setting that turns it on
#   bin/build-cache status [--dir DIR]              running or not, address, store size
#   bin/build-cache stop   [--dir DIR]
#   bin/build-cache token  [--dir DIR] [--days N]   a token for a server started with a secret
# --token-secret FILE: only requests with a bearer token (a JWT signed with FILE's secret,
# HS256) are served; give ./pants the token with GEAR_BUILD_CACHE_TOKEN_FILE.
# DIR (default: $GEAR_BUILD_CACHE_DIR, else ~/.cache/gear-build-cache) holds the store (cas/),
# the server's config.yml, server.log and server.pid. The port defaults to 50051.
# Then: export GEAR_BUILD_CACHE=grpc://127.0.0.1:N and ./pants reads and writes the cache.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)" # the repository (this is tools/src/python/build_cache/)
SERVER_TARGET="tools/src/python/build_cache:buildgrid"
SERVER_PEX="${ROOT}/dist/tools.src.python.build_cache/buildgrid.pex"

die() {
  echo "build-cache: error: $*" >&2
  exit 1
}
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-0}"
}

command="${1:-}"
[[ -n "${command}" ]] || usage 2
shift
port=50051
dir="${GEAR_BUILD_CACHE_DIR:-${HOME}/.cache/gear-build-cache}"
secret=""
days=30
while [[ $# -gt 0 ]]; do
  case "$1" in
  --port) port="${2:?--port needs a number}"; shift 2 ;;
  --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
  --token-secret) secret="${2:?--token-secret needs a file}"; shift 2 ;;
  --days) days="${2:?--days needs a number}"; shift 2 ;;
  -h | --help) usage 0 ;;
  *) die "unknown argument $1 (see bin/build-cache --help)" ;;
  esac
done
[[ "${port}" =~ ^[0-9]+$ ]] || die "--port ${port} is not a port number"
[[ "${days}" =~ ^[0-9]+$ ]] || die "--days ${days} is not a number of days"
if [[ -n "${secret}" ]]; then
  [[ -s "${secret}" ]] || die "--token-secret ${secret}: not a readable, non-empty file"
  secret="$(cd "$(dirname "${secret}")" && pwd)/$(basename "${secret}")"
fi
# An absolute path (the server's config names its store by it); made by `start`.
[[ "${dir}" == /* ]] || dir="${PWD}/${dir}"
pid_file="${dir}/server.pid"
address_file="${dir}/address"

running_pid() {
  local pid
  [[ -f "${pid_file}" ]] || return 1
  pid="$(cat "${pid_file}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null && echo "${pid}"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Who may use the cache: anyone on 127.0.0.1, or holders of a token signed with the secret.
authorization() {
  if [[ -n "${secret}" ]]; then
    printf '  method: jwt\n  secret: %s\n  algorithm: hs256\n' "${secret}"
  else
    printf '  method: none\n'
  fi
}

write_config() {
  cat >"${dir}/config.yml" <<EOF
# Written by bin/build-cache: the CAS, ByteStream and ActionCache Pants uses; no execution.
description: The shared build cache of the gear monorepo.
server:
  - !channel
    address: "127.0.0.1:${port}"
    insecure-mode: true
authorization:
$(authorization)
storages:
  - !disk-storage &cas
    path: ${dir}/cas
caches:
  - !lru-action-cache &actions
    storage: *cas
    max-cached-refs: 1000000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: ""
    services:
      - !action-cache
        cache: *actions
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
thread-pool-size: 40
EOF
}

start() {
  local pid
  if pid="$(running_pid)"; then
    echo "build-cache: already running (pid ${pid}) on $(cat "${address_file}")"
    echo "export GEAR_BUILD_CACHE=$(cat "${address_file}")"
    return 0
  fi
  answers "${port}" && die "port ${port} on 127.0.0.1 is taken by another program; give --port N"
  mkdir -p "${dir}"
  echo "build-cache: building the server (${SERVER_TARGET})..." >&2
  # Built without the cache it is about to serve.
  if ! (cd "${ROOT}" && env -u GEAR_BUILD_CACHE GEAR_SKIP_CONTAINER_ENGINE=1 \
    ./pants -lwarn package "${SERVER_TARGET}" >"${dir}/build.log" 2>&1); then
    cat "${dir}/build.log" >&2
    die "could not build the server (${SERVER_TARGET}); the output is above"
  fi
  mkdir -p "${dir}/cas"
  write_config
  if [[ -n "${secret}" ]]; then echo "${secret}" >"${dir}/token-secret"; else rm -f "${dir}/token-secret"; fi
  (cd "${dir}" && exec nohup "${SERVER_PEX}" server start --pid-file "${pid_file}" "${dir}/config.yml" \
    >"${dir}/server.log" 2>&1 </dev/null &)
  for _ in $(seq 1 120); do
    if answers "${port}"; then
      echo "grpc://127.0.0.1:${port}" >"${address_file}"
      echo "build-cache: BuildGrid on grpc://127.0.0.1:${port}, store ${dir}/cas (log ${dir}/server.log)"
      echo "export GEAR_BUILD_CACHE=grpc://127.0.0.1:${port}"
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "${dir}/server.log" >&2 || true
  die "BuildGrid did not answer on 127.0.0.1:${port} within 60 s (log: ${dir}/server.log)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "build-cache: not running (${dir})"
    return 0
  fi
  kill "${pid}"
  for _ in $(seq 1 40); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "${pid}" 2>/dev/null && kill -9 "${pid}"
  rm -f "${pid_file}"
  echo "build-cache: stopped (pid ${pid}); the store stays in ${dir}/cas"
}

status() {
  local pid size entries
  size="$(du -sh "${dir}/cas" 2>/dev/null | cut -f1 || true)"
  entries="$(find "${dir}/cas" -type f 2>/dev/null | wc -l || true)"
  if pid="$(running_pid)"; then
    echo "build-cache: running (pid ${pid}) on $(cat "${address_file}"); store ${dir}/cas: ${size:-0} in ${entries} blobs"
  else
    echo "build-cache: not running; store ${dir}/cas: ${size:-0} in ${entries} blobs"
    return 3
  fi
}

# A JWT for a server started with --token-secret, on stdout (put it in a file or a secret).
token() {
  [[ -f "${dir}/token-secret" ]] || die "the server in ${dir} was not started with --token-secret"
  [[ -x "${SERVER_PEX}" ]] || die "${SERVER_PEX} is missing: run bin/build-cache start first"
  PEX_INTERPRETER=1 "${SERVER_PEX}" -c '
import sys, time, jwt
secret = open(sys.argv[1]).read().strip()
print(jwt.encode({"sub": "gear-build-cache", "exp": int(time.time()) + int(sys.argv[2]) * 86400}, secret, algorithm="HS256"))
' "$(cat "${dir}/token-secret")" "${days}"
}

case "${command}" in
start) start ;;
token) token ;;
stop) stop ;;
status) status ;;
-h | --help) usage 0 ;;
*) die "unknown command ${command}: start, status, stop or token" ;;
esac
