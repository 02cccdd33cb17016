#!/usr/bin/env bash
# deploy/make-base-image.sh: builds a minimal Debian bookworm base image with debootstrap and imports it
# as debian:bookworm-slim (and riskpipe/base:bookworm), for Docker engines that cannot pull from a registry.
#
# Usage: deploy/make-base-image.sh [--force] [--with-packages | --minimal] [--help]
#   (no flag)        do nothing if debian:bookworm-slim already exists (pulled or made here), else build it.
#   --force          rebuild even if the image exists.
#   --with-packages  preinstall the build and runtime packages (deploy/packages-*.txt) in the base image.
#   --minimal        never preinstall them.
#   Default: preinstall them only if a container cannot reach the Debian mirror (docker build would fail).
# The mirror is read from this machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/);
# RISKPIPE_DEBIAN_MIRROR / RISKPIPE_DEBIAN_SECURITY_MIRROR override it. Needs root (or password-less sudo).
set -euo pipefail

readonly SUITE=bookworm
readonly TAG="${RISKPIPE_BASE_IMAGE:-debian:${SUITE}-slim}"
readonly LOCAL_TAG="riskpipe/base:${SUITE}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

force=0
packages=auto
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --with-packages) packages=yes ;;
        --minimal) packages=no ;;
        -h | --help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "make-base-image: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf 'make-base-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Serialise concurrent runs (two test runs at once must not debootstrap twice into the same tag).
lock_file="${TMPDIR:-/tmp}/riskpipe-make-base-image.lock"
exec 9>"$lock_file"
flock 9

if ((!force)) && image_exists "$TAG"; then
    log "$TAG already exists ($(docker image inspect -f '{{.Id}}' "$TAG" | cut -c8-19)); nothing to do (--force rebuilds)"
    exit 0
fi

start=$SECONDS

# Root is needed for debootstrap and chroot; fall back to password-less sudo.
SUDO=()
if ((EUID != 0)); then
    sudo -n true 2>/dev/null || die "must run as root (or with password-less sudo)"
    SUDO=(sudo -n)
fi

# debootstrap and the Debian archive keyring, installed only if missing.
if ! command -v debootstrap >/dev/null 2>&1 || [[ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    log "installing debootstrap with apt-get"
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap debian-archive-keyring >/dev/null
fi
DEBOOTSTRAP="$(command -v debootstrap || echo /usr/sbin/debootstrap)"

# Prints "URI SUITE" for every enabled binary ('deb') entry of the host's apt sources.
apt_source_entries() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        # One-line format: deb [options] URI suite [components...]
        awk '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if (i + 1 <= NF) print $i, $(i + 1)
             }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        # deb822 format: stanzas separated by blank lines with Types:, URIs:, Suites:, Enabled: fields.
        awk 'function flush(   n, m, u, s, U, S) {
                 if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*(no|false)/) {
                     n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
                     for (u = 1; u <= n; u++) for (s = 1; s <= m; s++)
                         if (U[u] != "" && S[s] != "") print U[u], S[s]
                 }
                 types = uris = suites = enabled = ""
             }
             /^[ \t]*#/ { next }
             /^[ \t]*$/ { flush(); next }
             { line = $0; key = tolower(line); sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ \t]*/, "", val)
               if (key == "types") types = val; else if (key == "uris") uris = val
               else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val) }
             END { flush() }' "$f"
    done
}

# The main archive: the URI serving suite "bookworm", else any non-security Debian-looking entry.
entries="$(apt_source_entries)"
mirror="${RISKPIPE_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$entries")"
fi
if [[ -z "$mirror" ]]; then
    mirror="$(awk '$2 !~ /security/ && $1 !~ /security/ && $1 ~ /debian/ { print $1; exit }' <<<"$entries")"
fi
[[ -n "$mirror" ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set RISKPIPE_DEBIAN_MIRROR"
security="${RISKPIPE_DEBIAN_SECURITY_MIRROR:-}"
if [[ -z "$security" ]]; then
    security="$(awk '$2 ~ /-security$/ { print $1; exit }' <<<"$entries")"
fi
log "mirror: $mirror${security:+ (security: $security)}"

work="$(mktemp -d "${TMPDIR:-/var/tmp}/riskpipe-base.XXXXXX")"
root="$work/rootfs"
probe_tag="riskpipe/base:probe-$$"
probe_name="riskpipe-base-probe-$$"
cleanup() {
    docker rm -f "$probe_name" >/dev/null 2>&1 || true
    docker rmi "$probe_tag" >/dev/null 2>&1 || true
    # Nothing is ever mounted below $root, so removing it is safe.
    "${SUDO[@]}" rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# apt in the image verifies TLS only with ca-certificates: include it when a mirror is https.
include=()
if [[ "$mirror" == https:* || "$security" == https:* ]]; then
    include=(--include=ca-certificates)
fi
log "debootstrap --variant=minbase $SUITE (takes ~30 s)"
"${SUDO[@]}" "$DEBOOTSTRAP" --variant=minbase --components=main "${include[@]}" "$SUITE" "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# With an https mirror, the image trusts what this machine trusts for it: its locally added CAs.
if ((${#include[@]})) && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    "${SUDO[@]}" cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    "${SUDO[@]}" chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed"
fi

# apt sources of the image: the same mirror as this machine, deb822 format like the official image.
{
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n "$security" ]]; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
} | "${SUDO[@]}" tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null
"${SUDO[@]}" rm -f "$root/etc/apt/sources.list"

# Slim like the official -slim images: no docs/man/locales, no apt caches, no translations.
"${SUDO[@]}" tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
"${SUDO[@]}" tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF

slim_rootfs() {
    "${SUDO[@]}" find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    "${SUDO[@]}" find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    "${SUDO[@]}" find "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" \
        "$root/usr/share/groff" "$root/usr/share/lintian" -mindepth 1 -delete 2>/dev/null || true
    "${SUDO[@]}" find "$root/var/lib/apt/lists" "$root/var/cache/apt" "$root/var/log" "$root/tmp" \
        -mindepth 1 ! -type d -delete 2>/dev/null || true
    "${SUDO[@]}" rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
}

# docker import of the rootfs under tag $1 (label packages=$2), with the config the official image has;
# /dev, /proc and /sys are left empty as the engine provides them.
import_rootfs() {
    "${SUDO[@]}" tar --numeric-owner --xattrs -C "$root" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' \
            --change "LABEL org.riskpipe.base=debootstrap org.riskpipe.base.packages=$2" \
            --message "debootstrap --variant=minbase $SUITE from $mirror" \
            - "$1" >/dev/null
}

# Reads a package list file of deploy/ (drops comments and blank lines).
read_packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SCRIPT_DIR/$1"; }

slim_rootfs
if [[ "$packages" == auto ]]; then
    # Can a container (as a RUN step of docker build would) reach the mirror? Probe with the minimal image;
    # apt-get update exits 0 on fetch failures, so the probe also asks for a package from the fetched lists.
    import_rootfs "$probe_tag" no
    # RISKPIPE_BASE_PROBE_NETWORK=none simulates an engine whose containers have no network (for testing).
    if timeout 120 docker run --rm --name "$probe_name" --network "${RISKPIPE_BASE_PROBE_NETWORK:-bridge}" "$probe_tag" \
        sh -c 'apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 -qq update &&
               apt-cache show --no-all-versions lmdb-utils' >/dev/null 2>&1; then
        log "containers reach the mirror: keeping the base minimal (the Dockerfile installs packages)"
        packages=no
    else
        log "containers cannot reach the mirror: preinstalling the build and runtime packages"
        packages=yes
    fi
fi

if [[ "$packages" == yes ]]; then
    mapfile -t pkgs < <(read_packages packages-build.txt; read_packages packages-runtime.txt)
    log "installing into the rootfs: ${pkgs[*]}"
    "${SUDO[@]}" cp /etc/resolv.conf "$root/etc/resolv.conf"
    "${SUDO[@]}" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get -qq update && apt-get install -y -qq --no-install-recommends "$@"' sh "${pkgs[@]}" \
        >"$work/chroot-apt.log" 2>&1 || { tail -n 30 "$work/chroot-apt.log" >&2; die "apt-get in the rootfs failed"; }
    slim_rootfs
fi

import_rootfs "$TAG" "$packages"
tags="$TAG"
if [[ "$TAG" == "debian:${SUITE}-slim" ]]; then # a riskpipe-specific name too, only for the default tag
    docker tag "$TAG" "$LOCAL_TAG"
    tags="$TAG and $LOCAL_TAG"
fi
size="$(docker image inspect -f '{{.Size}}' "$TAG")"
log "built $tags (packages preinstalled: $packages, $((size / 1000000)) MB) in $((SECONDS - start)) s"
