#!/usr/bin/env bash
# Another podman on this machine: Debian 13's (podman 5, buildah 1.39) in a root made with
# debootstrap, to check that gear images do not depend on the podman that builds them.
#
#   tools/src/python/gear_tools/engine/other_podman.sh make DIR   make it (once); prints the bin directory
#   tools/src/python/gear_tools/engine/other_podman.sh stop DIR   unmount what it mounted
#
# Then `PATH=DIR/bin:$PATH bin/container-engine refresh` builds with it (tools/benchmarks/
# engine_matrix.py does). DIR/bin/podman (and buildah) chroot into DIR/root, cd to the caller's
# directory and run the root's own podman; only /tmp is shared with this machine, so build
# contexts and archives must be under /tmp (Pants' sandboxes are). Needs root; installs
# debootstrap with apt when absent. The root's podman needs (measured): the root bind-mounted
# on itself (else `podman load` fails with "remount /, flags: 0x44000"), cgroupfs, file events
# and explicit ulimits (else every RUN fails setting RLIMIT_NOFILE).
set -euo pipefail

SUITE="${OTHER_PODMAN_SUITE:-trixie}"
PACKAGES=(podman buildah crun fuse-overlayfs netavark ca-certificates)

die() {
  echo "other-podman: error: $*" >&2
  exit 1
}
note() { echo "other-podman: $*" >&2; }

[[ $# -eq 2 ]] || {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
command="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
root="${dir}/root"

# The first Debian mirror in this machine's apt sources (as offline_base_image.sh reads it).
apt_mirror() {
  {
    sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '/debian/?$' | head -n 1
}

mounted() { mountpoint -q "$1"; }

mount_root() {
  mounted "${root}" || mount --bind "${root}" "${root}"
  mounted "${root}/proc" || mount -t proc proc "${root}/proc"
  mounted "${root}/sys" || mount --rbind /sys "${root}/sys"
  mounted "${root}/dev" || mount --rbind /dev "${root}/dev"
  mounted "${root}/run" || mount -t tmpfs tmpfs "${root}/run"
  mounted "${root}/tmp" || mount --bind /tmp "${root}/tmp"
}

unmount_root() {
  local path
  for path in tmp run dev sys proc; do
    mounted "${root}/${path}" && umount -R "${root}/${path}" 2>/dev/null || true
  done
  mounted "${root}" && umount "${root}" 2>/dev/null || true
}

write_wrappers() {
  mkdir -p "${dir}/bin"
  local program
  for program in podman buildah; do
    cat >"${dir}/bin/${program}" <<EOF
#!/bin/sh
# ${program} of the Debian ${SUITE} root ${root}; written by other_podman.sh.
# Pants runs engines with an empty PATH.
export PODMAN_IGNORE_CGROUPSV1_WARNING=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
(
  /usr/bin/flock 9
  /usr/bin/mountpoint -q ${root}/tmp || OTHER_PODMAN_MOUNT=1 /bin/bash $(realpath "$0") mount ${dir} >&2
) 9>${dir}/mount.lock
exec /usr/sbin/chroot ${root} /bin/sh -c 'cd "\$1" 2>/dev/null || cd /; shift; exec /usr/bin/${program} "\$@"' sh "\$PWD" "\$@"
EOF
    chmod +x "${dir}/bin/${program}"
  done
}

make_root() {
  [[ "$(id -u)" == "0" ]] || die "debootstrap and chroot need root"
  if [[ ! -x "${root}/usr/bin/podman" ]]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
      note "installing debootstrap with apt ..."
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
        die "could not install debootstrap with apt-get"
    fi
    local mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"
    [[ -n "${mirror}" ]] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
    if [[ ! -x "${root}/usr/bin/apt-get" ]]; then
      note "debootstrap ${SUITE} into ${root} from ${mirror} ..."
      debootstrap --variant=minbase "${SUITE}" "${root}" "${mirror}" >"${dir}/debootstrap.log" 2>&1 ||
        { tail -n 20 "${dir}/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
    fi
    mount_root
    cp /etc/resolv.conf "${root}/etc/resolv.conf"
    note "installing ${PACKAGES[*]} in it ..."
    chroot "${root}" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PACKAGES[*]}" \
      >"${dir}/apt.log" 2>&1 || { tail -n 20 "${dir}/apt.log" >&2; die "installing podman failed (log above)"; }
  fi
  mkdir -p "${root}/etc/containers"
  cat >"${root}/etc/containers/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=96367:96367"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  mount_root
  write_wrappers
  note "$("${dir}/bin/podman" --version) in ${root}"
  echo "${dir}/bin"
}

case "${command}" in
make) make_root ;;
mount)
  [[ -n "${OTHER_PODMAN_MOUNT:-}" ]] || die "mount is the wrappers' own step; use make"
  mount_root
  ;;
stop) unmount_root ;;
*) die "unknown command '${command}' (make or stop)" ;;
esac
