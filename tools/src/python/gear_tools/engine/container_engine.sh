#!/usr/bin/env bash
# Chooses and prepares the container engine that `./pants package` builds gear images with.
#
#   bin/container-engine ensure    prepare once (./pants calls this before package/publish)
#   bin/container-engine refresh   forget the earlier choice and prepare again
#   bin/container-engine status    print the engine and base image in use
#   bin/container-engine base-image  print the base image pinned in pants.toml
#   bin/container-engine pin-base [--dry-run]  pin BASE_IMAGE in pants.toml by digest (asks
#                                  its registry: run it where that is reachable)
#
# A working Docker daemon is used as it is: the one the user's own `docker` finds (DOCKER_HOST,
# DOCKER_CONTEXT or `docker context use`, DOCKER_CONFIG, else the default socket), with BuildKit
# where the client has it (the buildx component, or a client older than 23.0 whose daemon
# builds with its own BuildKit) and the classic builder otherwise. Without one, Debian's podman
# and buildah are used (installed with apt when running as root), driven by Pants through a
# `docker` shim with buildah's chroot isolation. When the public base image cannot be pulled,
# an equivalent local one is built from Debian packages by tools/src/python/gear_tools/engine/offline_base_image.sh (or
# copied from the other engine) and passed as BASE_IMAGE.
#
# Environment:
#   GEAR_CONTAINER_ENGINE  docker or podman, to skip detection (a change from the recorded
#                          engine prepares the named one)
#   GEAR_DOCKER_BUILDER    buildkit or classic, to skip the builder's detection (Docker only)
#   BASE_IMAGE             a base image to build from instead of the one pinned in pants.toml
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../../.." && pwd)" # the repository (this is tools/src/python/gear_tools/engine/)
BOOT_DIR="${PANTS_BOOTSTRAP_DIR:-${ROOT}/.pants.bootstrap}"
STATE="${BOOT_DIR}/container.env"
RC_FRAGMENT="${BOOT_DIR}/rc.d/20-containers.toml"
SHIM_DIR="${BOOT_DIR}/container-bin"
PANTS_TOML="${ROOT}/pants.toml"
OFFLINE_BASE_IMAGE="localhost/offline-debian-python:3.11-bookworm-3"

die() {
  echo "container-engine: error: $*" >&2
  exit 1
}
# The gears' base image, from its one definition: BASE_IMAGE in pants.toml's [docker] build_args,
# as gear_tools.repo reads it, with tomllib: the first python3 of 3.11 or later.
read_base_image() {
  local python
  for python in python3 python3.13 python3.12 python3.11; do
    if command -v "${python}" >/dev/null 2>&1 && "${python}" -c 'import tomllib' 2>/dev/null; then
      GEAR_REPO_ROOT="${ROOT}" PYTHONPATH="${ROOT}/tools/src/python" \
        "${python}" -m gear_tools.repo base-image
      return
    fi
  done
  die "reading ${PANTS_TOML} needs a Python 3.11 or later on PATH (python3 or python3.11)"
}
PUBLIC_BASE_IMAGE="$(read_base_image)" || exit 1
note() { echo "container-engine: $*" >&2; }

docker_daemon_works() {
  command -v docker >/dev/null 2>&1 && ! docker --version 2>/dev/null | grep -qi podman &&
    timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Where the user's docker looks for its daemon, in words: DOCKER_HOST, or the context in use.
docker_endpoint() {
  if [[ -n "${DOCKER_HOST:-}" ]]; then
    echo "${DOCKER_HOST} (DOCKER_HOST)"
    return
  fi
  local context
  context="$(timeout 10 docker context inspect --format '{{.Name}} {{.Endpoints.docker.Host}}' 2>/dev/null | head -n 1)"
  [[ -n "${context}" ]] || context="default unix:///var/run/docker.sock"
  echo "${context#* } (docker context ${context%% *}${DOCKER_CONTEXT:+, from DOCKER_CONTEXT}; DOCKER_HOST is not set)"
}

# One line: which daemon the user's docker tried and what it answered.
docker_problem() {
  local answer
  if ! command -v docker >/dev/null 2>&1; then
    echo "no docker client on PATH"
    return
  fi
  answer="$(timeout 20 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null | grep -v '^$' | tail -n 1)" ||
    true
  echo "no Docker daemon answers at $(docker_endpoint)${answer:+: ${answer}}"
}

# The builder the docker client uses: buildkit (its buildx component, or the daemon's own
# BuildKit for a client older than 23.0, which needs DOCKER_BUILDKIT=1) or classic.
docker_builder() {
  local version
  if [[ -n "${GEAR_DOCKER_BUILDER:-}" ]]; then
    [[ "${GEAR_DOCKER_BUILDER}" == buildkit || "${GEAR_DOCKER_BUILDER}" == classic ]] ||
      die "GEAR_DOCKER_BUILDER must be buildkit or classic, not '${GEAR_DOCKER_BUILDER}'"
    echo "${GEAR_DOCKER_BUILDER}"
  elif docker buildx version >/dev/null 2>&1; then
    echo buildkit
  else
    version="$(docker version --format '{{.Client.Version}}' 2>/dev/null || true)"
    if [[ "${version%%.*}" =~ ^[0-9]+$ && "${version%%.*}" -lt 23 ]]; then
      echo buildkit
    else
      echo classic
    fi
  fi
}

install_podman() {
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    note "no Docker daemon and no podman: installing Debian's podman and buildah with apt ..."
    export DEBIAN_FRONTEND=noninteractive
    local log="${BOOT_DIR}/apt-install.log"
    mkdir -p "${BOOT_DIR}"
    if ! { apt-get update -qq && apt-get install -y -qq podman buildah; } >"${log}" 2>&1; then
      tail -n 20 "${log}" >&2
      die "installing podman and buildah with apt-get failed (log above, full log in ${log})"
    fi
  else
    die "no working Docker daemon, and podman is not installed.
Start a Docker daemon, or install podman and buildah (Debian: 'sudo apt-get install podman buildah'),
then run ./pants package again."
  fi
}

# Succeeds when the public base image is present or can be pulled with the given engine.
public_base_available() {
  local engine="$1"
  if ! "${engine}" image inspect "${PUBLIC_BASE_IMAGE}" >/dev/null 2>&1; then
    note "pulling ${PUBLIC_BASE_IMAGE} ..."
    timeout 300 "${engine}" pull -q "${PUBLIC_BASE_IMAGE}" >/dev/null 2>&1 || return 1
  fi
  warn_unpinned "${engine}"
}

# A tag can move to another image: gear images are reproducible only from a base pinned by
# digest. Says which digest to pin when pants.toml names the base image by tag alone.
warn_unpinned() {
  local engine="$1" digest
  [[ "${PUBLIC_BASE_IMAGE}" == *@sha256:* ]] && return 0
  digest="$("${engine}" image inspect --format '{{index .RepoDigests 0}}' "${PUBLIC_BASE_IMAGE}" 2>/dev/null || true)"
  note "warning: ${PANTS_TOML} names the base image by tag (${PUBLIC_BASE_IMAGE}); pin it by digest, as BASE_IMAGE=${digest:-<repository>@sha256:<digest>}, so that every machine builds from the same image"
}

# Copies the local stand-in base image from the other engine when that one has it (seconds,
# instead of a debootstrap), so both engines build from the same image.
copy_offline_base_image() {
  local engine="$1" other=podman
  [[ "${engine}" == podman ]] && other=docker
  if [[ "${other}" == docker ]]; then
    docker_daemon_works || return 1
  else
    command -v podman >/dev/null 2>&1 || return 1
  fi
  "${other}" image inspect "${OFFLINE_BASE_IMAGE}" >/dev/null 2>&1 || return 1
  note "copying the local stand-in ${OFFLINE_BASE_IMAGE} from ${other} to ${engine} ..."
  "${other}" save "${OFFLINE_BASE_IMAGE}" | "${engine}" load >/dev/null 2>&1 &&
    "${engine}" image inspect "${OFFLINE_BASE_IMAGE}" >/dev/null 2>&1
}

choose_base_image() {
  local engine="$1"
  if [[ -n "${BASE_IMAGE:-}" ]]; then
    note "using BASE_IMAGE=${BASE_IMAGE} from the environment"
    echo "${BASE_IMAGE}"
  elif public_base_available "${engine}"; then
    echo "${PUBLIC_BASE_IMAGE}"
  else
    if ! "${engine}" image inspect "${OFFLINE_BASE_IMAGE}" >/dev/null 2>&1 &&
      ! copy_offline_base_image "${engine}"; then
      note "${PUBLIC_BASE_IMAGE} cannot be pulled; building the local stand-in ${OFFLINE_BASE_IMAGE}"
      CONTAINER_ENGINE="${engine}" "${ROOT}/tools/src/python/gear_tools/engine/offline_base_image.sh" "${OFFLINE_BASE_IMAGE}" >&2
    fi
    echo "${OFFLINE_BASE_IMAGE}"
  fi
}

# A `docker` for Pants that runs podman. Pants runs it with an empty PATH, so every program is
# named by its full path. For `build`, it also prints "Successfully built <image ID>", the line
# Pants reads the image ID from (podman does not print it), so that the ID reaches
# dist/*.docker-info.json. See tools/src/python/gear_tools/engine/podman_build.py.
SHIM_VERSION="podman shim 5"
# The shims run their own copies of podman_build.py and canonical_image.py (which writes gear
# images in canonical form, the same whatever engine built them): clones that share one
# bootstrap directory (PANTS_BOOTSTRAP_DIR) must not depend on the one that wrote the shim.
# Refreshed by `ensure`.
ENGINE_DIR="${ROOT}/tools/src/python/gear_tools/engine"
copy_shim_scripts() {
  local script
  mkdir -p "${SHIM_DIR}"
  for script in podman_build.py canonical_image.py; do
    cmp -s "${ENGINE_DIR}/${script}" "${SHIM_DIR}/${script}" && continue
    cp "${ENGINE_DIR}/${script}" "${SHIM_DIR}/${script}.tmp"
    mv "${SHIM_DIR}/${script}.tmp" "${SHIM_DIR}/${script}"
  done
}

# The interpreter itself, not a pyenv shim: Pants runs the shims with an empty environment.
shim_python() {
  python3 -c 'import sys; assert sys.version_info >= (3, 9); print(sys.executable)' 2>/dev/null ||
    die "the container engine's docker shim needs a python3 (3.9 or later) on PATH"
}

write_podman_shim() {
  local shim="$1" podman python
  copy_shim_scripts
  podman="$(command -v podman)"
  python="$(shim_python)"
  cat >"${shim}" <<EOF
#!/bin/sh
# podman standing in for docker; written by bin/container-engine (${SHIM_VERSION}).
# Builds go through podman_build.py: it prints the image ID (podman does not), skips a build
# whose inputs are unchanged and removes what an earlier build of the same image left behind.
if [ "\$1" = build ]; then
  shift
  exec ${python} ${SHIM_DIR}/podman_build.py ${podman} ${BOOT_DIR}/podman-builds build "\$@"
fi
# Like a Docker daemon, which trusts registries on 127.0.0.0/8 without TLS: pushes to and pulls
# from a registry on this machine speak plain HTTP.
case "\$1:\$2" in
push:127.0.0.1:* | push:localhost:* | pull:127.0.0.1:* | pull:localhost:*)
  command="\$1"
  shift
  exec ${podman} "\${command}" --tls-verify=false "\$@"
  ;;
esac
exec ${podman} "\$@"
EOF
  chmod +x "${shim}"
}

# A `docker` for Pants that runs the user's docker client (found on PATH when prepared; Pants
# runs it with the variables `[docker] env_vars` in pants.toml passes, so it finds the same
# daemon). It sets the builder chosen (DOCKER_BUILDKIT, unless the caller sets it); after a
# build it writes a gear image in canonical form (canonical_image.py, given the build's tags)
# and prints "Successfully built <whole image ID>": Pants records the ID it reads there, and
# the classic builder prints it shortened to 12 digits.
DOCKER_SHIM_VERSION="docker shim 3"
write_docker_shim() {
  local shim="$1" builder="$2" docker chmod python buildkit=0
  docker="$(command -v docker)"
  chmod="$(command -v chmod)"
  python="$(shim_python)"
  copy_shim_scripts
  [[ "${builder}" == buildkit ]] && buildkit=1
  cat >"${shim}" <<EOF
#!/bin/sh
# The user's docker client for Pants; written by bin/container-engine (${DOCKER_SHIM_VERSION}).
export DOCKER_BUILDKIT="\${DOCKER_BUILDKIT:-${buildkit}}"
if [ "\$1" = build ]; then
  tags=
  previous=
  for argument in "\$@"; do
    if [ "\${previous}" = --tag ]; then tags="\${tags} \${argument}"; fi
    previous="\${argument}"
  done
  # The context (Pants' copy, the last argument) with the modes umask 022 gives, whatever the
  # user's umask: COPY keeps them, and the gear's unprivileged user must read its files.
  if [ -d "\${previous}" ]; then ${chmod} -R u+rwX,go+rX,go-w "\${previous}"; fi
  ${docker} "\$@" || exit \$?
  if [ -n "\${tags}" ]; then
    set -- \${tags}
    id="\$(${docker} image inspect --format '{{.Id}}' "\$1")" || exit \$?
    gear="\$(${docker} image inspect --format '{{index .Config.Labels "io.flywheel.gear.name"}}' "\$1")"
    if [ -n "\${gear}" ] && [ "\${gear}" != "<no value>" ]; then
      # A gear image: rewritten in canonical form, the same image whatever engine built it.
      id="\$(${python} ${SHIM_DIR}/canonical_image.py ${docker} ${BOOT_DIR}/canonical-layers canonicalize "\${id}" "\$@")" || exit \$?
      echo "Canonical image \${id}"
    fi
    echo "Successfully built \${id}"
  fi
  exit 0
fi
exec ${docker} "\$@"
EOF
  chmod +x "${shim}"
}

write_state() {
  local engine="$1" base="$2" builder="${3:-}"
  mkdir -p "${BOOT_DIR}/rc.d"
  {
    echo "# Written by bin/container-engine; sourced by ./pants for goals that build images."
    echo "GEAR_CONTAINER_ENGINE=${engine}"
    echo "GEAR_BASE_IMAGE=${base}"
    [[ -z "${builder}" ]] || echo "GEAR_DOCKER_BUILDER=${builder}"
  } >"${STATE}"
  {
    echo "# Written by bin/container-engine."
    echo "[docker]"
    if [[ "${base}" != "${PUBLIC_BASE_IMAGE}" ]]; then
      echo "# ${PUBLIC_BASE_IMAGE} is not available here; gears build from this stand-in."
      echo "build_args.add = [\"BASE_IMAGE=${base}\"]"
    fi
    echo "executable_search_paths = [\"${SHIM_DIR}\"]"
    if [[ "${engine}" == "podman" ]]; then
      echo "# podman stands in for Docker (no Docker daemon on this machine)."
      echo 'env_vars.add = ["BUILDAH_ISOLATION=chroot"]'
    fi
  } >"${RC_FRAGMENT}"
  mkdir -p "${SHIM_DIR}"
  if [[ "${engine}" == "podman" ]]; then
    write_podman_shim "${SHIM_DIR}/docker"
  else
    write_docker_shim "${SHIM_DIR}/docker" "${builder}"
  fi
}

# The value of KEY in the state file, or nothing.
recorded() { sed -n "s/^$1=//p" "${STATE}" 2>/dev/null | head -n 1; }

# Checked on every run with the recorded Docker engine (one `docker image inspect`, a few ms):
# the daemon the user's docker finds now answers and has the base image. Fails with one line
# naming the daemon tried; returns 1 when that daemon lacks the base image (prepare again).
check_docker() {
  local base="${BASE_IMAGE:-$(recorded GEAR_BASE_IMAGE)}"
  docker image inspect --format '{{.Id}}' "${base}" >/dev/null 2>&1 && return 0
  docker_daemon_works ||
    die "$(docker_problem); start it, point DOCKER_HOST or 'docker context use' at a running daemon, or run 'bin/container-engine refresh' to choose the engine again"
  [[ -n "${BASE_IMAGE:-}" ]] && return 0 # docker build pulls it
  note "the Docker daemon at $(docker_endpoint) has no ${base}; preparing it"
  return 1
}

ensure() {
  local engine="${GEAR_CONTAINER_ENGINE:-}" previous=""
  if [[ -f "${RC_FRAGMENT}" && -n "$(recorded GEAR_BASE_IMAGE)" ]]; then
    previous="$(recorded GEAR_CONTAINER_ENGINE)"
  fi
  if [[ -n "${previous}" && (-z "${engine}" || "${engine}" == "${previous}") ]]; then
    if [[ "${previous}" == podman ]]; then
      # Keep an earlier podman shim, and its podman_build.py, up to date with this checkout.
      grep -qF "${SHIM_VERSION}" "${SHIM_DIR}/docker" 2>/dev/null || write_podman_shim "${SHIM_DIR}/docker"
      copy_shim_scripts
      return 0
    fi
    if check_docker; then
      grep -qF "${DOCKER_SHIM_VERSION}" "${SHIM_DIR}/docker" 2>/dev/null ||
        write_state docker "$(recorded GEAR_BASE_IMAGE)" "$(recorded GEAR_DOCKER_BUILDER)"
      copy_shim_scripts
      return 0
    fi
    engine=docker
  fi
  if [[ -z "${engine}" ]]; then
    if docker_daemon_works; then
      engine=docker
    else
      command -v docker >/dev/null 2>&1 && note "$(docker_problem); using podman"
      engine=podman
    fi
  fi
  local builder=""
  case "${engine}" in
  docker)
    docker_daemon_works || die "GEAR_CONTAINER_ENGINE=docker, but $(docker_problem)"
    builder="$(docker_builder)"
    ;;
  podman) command -v podman >/dev/null 2>&1 && command -v buildah >/dev/null 2>&1 || install_podman ;;
  *) die "GEAR_CONTAINER_ENGINE must be docker or podman, not '${engine}'" ;;
  esac
  local base
  base="$(choose_base_image "${engine}")"
  write_state "${engine}" "${base}" "${builder}"
  if [[ "${engine}" == docker ]]; then
    note "building images with docker (daemon at $(docker_endpoint), ${builder} builder) from ${base}"
  else
    note "building images with podman from ${base}"
  fi
}

status() {
  if [[ ! -f "${STATE}" ]]; then
    echo "not prepared yet: run 'bin/container-engine ensure' or './pants package ::'"
    return 0
  fi
  # shellcheck source=/dev/null
  source "${STATE}"
  echo "engine:     ${GEAR_CONTAINER_ENGINE}"
  if [[ "${GEAR_CONTAINER_ENGINE}" == docker ]]; then
    echo "daemon:     $(docker_endpoint)"
    echo "builder:    ${GEAR_DOCKER_BUILDER:-classic}"
  fi
  echo "base image: ${BASE_IMAGE:-${GEAR_BASE_IMAGE:-${PUBLIC_BASE_IMAGE}}}"
}

case "${1:-}" in
ensure) ensure ;;
refresh)
  rm -f "${STATE}" "${RC_FRAGMENT}"
  ensure
  ;;
status) status ;;
base-image) echo "${PUBLIC_BASE_IMAGE}" ;;
pin-base)
  # BASE_IMAGE pinned by digest in pants.toml (gear_tools.engine.base_image; standard library).
  shift
  for python in python3 python3.13 python3.12 python3.11; do
    if command -v "${python}" >/dev/null 2>&1 && "${python}" -c 'import tomllib' 2>/dev/null; then
      GEAR_REPO_ROOT="${ROOT}" PYTHONPATH="${ROOT}/tools/src/python" \
        exec "${python}" -m gear_tools.engine.base_image pin "$@"
    fi
  done
  die "pin-base needs a Python 3.11 or later on PATH (python3 or python3.11)"
  ;;
*)
  sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] || exit 2
  ;;
esac
