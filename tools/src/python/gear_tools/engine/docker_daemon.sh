#!/usr/bin/env bash
# A private Docker daemon on a socket of its own, for trying the Docker path of `./pants package`
# (and for .ci/run's Docker pass) on a machine with no daemon running.
#
#   bin/docker-daemon start DIR   start dockerd with everything under DIR; prints DOCKER_HOST=...
#   bin/docker-daemon stop DIR    stop it (its images stay in DIR/data; remove DIR to drop them)
#   bin/docker-daemon status DIR  whether it answers
#
# Then `export DOCKER_HOST=unix://DIR/docker.sock` (what `start` prints) and use ./pants as usual.
# Needs root. Installs Debian's docker.io with apt when dockerd is missing. The daemon keeps its
# images, containers and state in DIR (data-root, exec-root, pid file and log), so it leaves any
# other daemon on the machine alone; it uses the default bridge network, as a system daemon does.
set -euo pipefail

die() {
  echo "docker-daemon: error: $*" >&2
  exit 1
}
note() { echo "docker-daemon: $*" >&2; }

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[[ $# -eq 2 ]] || usage
command="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
socket="unix://${dir}/docker.sock"
pidfile="${dir}/docker.pid"

answers() { DOCKER_HOST="${socket}" timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_docker() {
  [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1 ||
    die "dockerd is not installed; install Docker (Debian: 'sudo apt-get install docker.io')"
  note "installing Debian's docker.io with apt ..."
  local log="${dir}/apt-install.log"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get install -y -qq docker.io || { apt-get update -qq && apt-get install -y -qq docker.io; }; } >"${log}" 2>&1; then
    tail -n 20 "${log}" >&2
    die "installing docker.io with apt-get failed (log above, full log in ${log})"
  fi
}

start() {
  if answers; then
    echo "DOCKER_HOST=${socket}"
    return
  fi
  command -v dockerd >/dev/null 2>&1 || install_docker
  command -v docker >/dev/null 2>&1 || die "no docker client on PATH"
  [[ "$(id -u)" == "0" ]] || die "dockerd needs root here; run as root, or use rootless Docker"
  # A unix socket path has at most 107 bytes; containerd's sockets go under the exec root.
  [[ ${#dir} -le 60 ]] || die "${dir} is too long for the daemon's sockets (at most 60 characters)"
  note "starting dockerd on ${socket} (log: ${dir}/dockerd.log) ..."
  setsid dockerd --host "${socket}" --data-root "${dir}/data" --exec-root "${dir}/exec" \
    --pidfile "${pidfile}" >"${dir}/dockerd.log" 2>&1 </dev/null &
  local started=${SECONDS}
  until answers; do
    if ! kill -0 $! 2>/dev/null; then
      tail -n 20 "${dir}/dockerd.log" >&2
      die "dockerd exited (log above)"
    fi
    ((SECONDS - started < 60)) || die "dockerd did not answer on ${socket} within 60 s (log: ${dir}/dockerd.log)"
    sleep 0.5
  done
  note "dockerd $(DOCKER_HOST="${socket}" docker version --format '{{.Server.Version}}') answers on ${socket}"
  echo "DOCKER_HOST=${socket}"
}

stop() {
  [[ -s "${pidfile}" ]] || { note "no daemon was started in ${dir}"; return 0; }
  local pid
  pid="$(cat "${pidfile}")"
  if kill "${pid}" 2>/dev/null; then
    # dockerd stops its containers and unmounts its layers before it exits.
    for _ in $(seq 1 60); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "${pid}" 2>/dev/null && die "dockerd (pid ${pid}) did not stop within 30 s"
  fi
  rm -f "${pidfile}"
  # What dockerd leaves mounted under its exec root (the default network namespace), so that
  # DIR can be removed.
  findmnt -rn -o TARGET | grep -F "${dir}/" | sort -r | xargs -r umount -l || true
  note "stopped the daemon on ${socket}"
}

case "${command}" in
start) start ;;
stop) stop ;;
status)
  if answers; then
    echo "answers on ${socket}"
  else
    echo "no daemon answers on ${socket}"
    exit 1
  fi
  ;;
*) usage ;;
esac
