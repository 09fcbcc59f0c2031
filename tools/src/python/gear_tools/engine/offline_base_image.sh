#!/usr/bin/env bash
# Builds a local stand-in for python:3.11-slim from Debian packages, for machines that cannot
# pull from a public image registry.
#
#   tools/src/python/gear_tools/engine/offline_base_image.sh [IMAGE]    (default IMAGE: localhost/offline-debian-python:3.11-bookworm-3)
#
# It debootstraps a minimal Debian bookworm with Python 3.11 from the Debian mirror this
# machine's apt already uses (override with DEBIAN_MIRROR), and puts it in the container engine
# (CONTAINER_ENGINE, default podman) as a canonical image written by canonical_image.py (the
# way gear images are written): the same package versions give the same image ID with podman
# or Docker (no logs or caches that hold the time, every file's time and the creation time 0).
# The image is labelled as a local build so it is not mistaken for the public image. Needs root
# (debootstrap); installs debootstrap with apt if absent.
set -euo pipefail

IMAGE="${1:-localhost/offline-debian-python:3.11-bookworm-3}"
ENGINE="${CONTAINER_ENGINE:-podman}"
SUITE=bookworm
# What python:3.11-slim offers that gears rely on: Python 3.11, `python`, CA certificates, and
# the parts of the standard library Debian packages apart (distutils, lib2to3, ensurepip, dbm.gnu;
# smoke_images checks every gear image against python:3.11-slim's module list). Tk is left out,
# as python:3.11-slim ships tkinter without the Tk libraries. The tag's "-2" names this list:
# change it with the list (or with what is kept of the packages' files), so that machines with
# an older stand-in build this one.
PACKAGES=python3,python-is-python3,ca-certificates,python3-distutils,python3-lib2to3,python3-venv,python3-gdbm

die() {
  echo "build-offline-base-image: error: $*" >&2
  exit 1
}
note() { echo "build-offline-base-image: $*" >&2; }

# The first Debian (not security, not third-party) mirror in this machine's apt sources.
apt_mirror() {
  local uri
  uri="$(
    {
      sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
      sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
    } | grep -E '/debian/?$' | head -n 1
  )"
  echo "${uri}"
}

[[ "$(id -u)" == "0" ]] || die "debootstrap needs root; run this script as root (or set BASE_IMAGE to an image you can pull)"
command -v "${ENGINE}" >/dev/null 2>&1 || die "container engine '${ENGINE}' not found (set CONTAINER_ENGINE)"
if ! command -v debootstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "debootstrap is not installed and apt-get is not available to install it"
  note "installing debootstrap with apt ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; } ||
    die "could not install debootstrap with apt-get"
fi

MIRROR="${DEBIAN_MIRROR:-$(apt_mirror)}"
[[ -n "${MIRROR}" ]] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"

ROOTFS="$(mktemp -d -t offline-base-rootfs.XXXXXX)"
trap 'rm -rf "${ROOTFS}"' EXIT

note "debootstrap ${SUITE} (${PACKAGES}) from ${MIRROR} into ${ROOTFS} ..."
# SOURCE_DATE_EPOCH: what the packages' scripts date (shadow's password ages, for one) is 0,
# not the build's day.
if ! SOURCE_DATE_EPOCH=0 debootstrap --variant=minbase --include="${PACKAGES}" "${SUITE}" "${ROOTFS}" "${MIRROR}" \
  >"${ROOTFS}.log" 2>&1; then
  tail -n 30 "${ROOTFS}.log" >&2
  rm -f "${ROOTFS}.log"
  die "debootstrap failed (log above)"
fi
rm -f "${ROOTFS}.log"

# Leave out what a container never uses (package caches, lists, docs and man pages) and what
# holds the build's time (logs, ldconfig's cache): the same packages give the same files. Each
# package's copyright file stays, as in python:3.11-slim (the SBOM reads licences from them).
rm -rf "${ROOTFS}"/var/cache/apt/archives/*.deb "${ROOTFS}"/var/lib/apt/lists/* \
  "${ROOTFS}"/usr/share/man/* "${ROOTFS}"/usr/share/info/* \
  "${ROOTFS}"/var/log/*.log "${ROOTFS}"/var/cache/debconf/*-old \
  "${ROOTFS}"/var/cache/ldconfig/aux-cache
find "${ROOTFS}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "${ROOTFS}/usr/share/doc" -mindepth 1 -type d -empty -delete
find "${ROOTFS}/usr/lib/python3.11" -name __pycache__ -prune -exec rm -rf {} +

DESCRIPTION="Local stand-in for python:3.11-slim, built by tools/src/python/gear_tools/engine/offline_base_image.sh from Debian ${SUITE} packages; not the public image"
CONTEXT="$(mktemp -d -t offline-base-context.XXXXXX)"
trap 'rm -rf "${ROOTFS}" "${CONTEXT}"' EXIT
tar -C "${ROOTFS}" --numeric-owner --sort=name -cf "${CONTEXT}/rootfs.tar" .
python3 - "${DESCRIPTION}" >"${CONTEXT}/config.json" <<'PYTHON'
import json, sys
print(json.dumps({"config": {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
    "Cmd": ["python3"],
    "Labels": {"org.opencontainers.image.title": "offline-debian-python",
               "org.opencontainers.image.description": sys.argv[1]},
}}))
PYTHON
note "writing ${IMAGE} as a canonical image into ${ENGINE} ..."
python3 "$(dirname "${BASH_SOURCE[0]}")/canonical_image.py" "$(command -v "${ENGINE}")" \
  "${CONTEXT}/layers" from-rootfs "${CONTEXT}/rootfs.tar" "${CONTEXT}/config.json" "${IMAGE}" >/dev/null ||
  die "writing ${IMAGE} failed"
"${ENGINE}" image inspect "${IMAGE}" >/dev/null || die "building ${IMAGE} failed"
note "built ${IMAGE}"
