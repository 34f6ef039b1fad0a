#!/usr/bin/env bash
# Build the agenttower "bench" image: a minimal Debian bookworm root file
# system with tmux, procps and coreutils, imported into the local docker
# engine. No registry is needed: packages come from the Debian mirror that is
# already configured for apt on this machine.
#
# Usage: build.sh [--force] [IMAGE]
#   IMAGE     image reference to create (default: $AGENTTOWER_BENCH_IMAGE,
#             else agenttower-bench:test)
#   --force   rebuild even if IMAGE is up to date
#
# Environment:
#   AGENTTOWER_BENCH_IMAGE   default image reference
#   AGENTTOWER_BENCH_MIRROR  Debian mirror URL (default: parsed from the apt
#                            configuration, else http://deb.debian.org/debian)
#   AGENTTOWER_BENCH_CACHE   cache directory (packages and root file system)
#                            (default: ${XDG_CACHE_HOME:-$HOME/.cache}/agenttower/bench)
#
# Caching: if the image exists and its label dev.agenttower.bench.recipe is
# the hash of this script, nothing is done; an image built by another version
# of this recipe (or without the label) is rebuilt. The downloaded packages and
# the finished root file system are kept in the cache directory, so a rebuild
# after `docker rmi` is a plain `docker import` (see below).
#
# No locale is set (no ENV LANG), as in debian:bookworm itself: agenttower must
# work in containers that set none, and the container tests run here.
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
INCLUDE=tmux,procps,coreutils
DEFAULT_MIRROR=http://deb.debian.org/debian

log() { printf 'bench-image: %s\n' "$*" >&2; }
die() { printf 'bench-image: ERROR: %s\n' "$*" >&2; exit 1; }

force=0
image=""
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $1" ;;
        *) [ -z "$image" ] || die "more than one image name given"; image="$1" ;;
    esac
    shift
done
image="${image:-${AGENTTOWER_BENCH_IMAGE:-agenttower-bench:test}}"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (debootstrap needs it) and sudo is not available"
    SUDO="sudo"
fi

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker engine does not answer (run .ci/docker-setup.sh)"

# The recipe is this whole script (suite, packages, trimming, image metadata).
recipe="$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-12)"
RECIPE_LABEL=dev.agenttower.bench.recipe
built_recipe() { docker image inspect -f "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$image" 2>/dev/null || true; }
up_to_date() { [ "$(built_recipe)" = "$recipe" ]; }

if [ "$force" = 0 ] && up_to_date; then
    log "image $image is up to date (recipe $recipe; use --force to rebuild)"
    exit 0
fi
if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    log "image $image was built by another recipe ($(built_recipe | sed 's/^$/none/;s/<no value>/none/')); rebuilding as $recipe"
fi

# debootstrap lives in /usr/sbin, which is not always on a user's PATH.
DEBOOTSTRAP="$(PATH="$PATH:/usr/sbin:/sbin" command -v debootstrap || true)"
[ -n "$DEBOOTSTRAP" ] || die "debootstrap not found (apt-get install debootstrap)"

# --- Debian mirror ---------------------------------------------------------
# First URI of an enabled deb822 stanza (/etc/apt/sources.list.d/*.sources)
# whose Types include "deb" and whose Suites include $SUITE itself (so the
# security archive, which only carries $SUITE-security, is skipped); then the
# one-line format in /etc/apt/sources.list; then the default.
find_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri="$(awk -v suite="$SUITE" '
            function flush() {
                if (enabled && types ~ /(^|[ \t])deb([ \t]|$)/ &&
                    (" " suites " ") ~ ("[ \t]" suite "[ \t]") && uris != "" && !found) {
                    split(uris, u, /[ \t]+/); print u[1]; found = 1
                }
                types = ""; suites = ""; uris = ""; enabled = 1
            }
            BEGIN { enabled = 1 }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "suites") suites = val
                else if (key == "uris") uris = val
                else if (key == "enabled" && tolower(val) ~ /^no/) enabled = 0
            }
            END { flush() }' "$f")"
        case "$uri" in http://*|https://*|file:/*) echo "${uri%/}"; return 0 ;; esac
    done
    if [ -r /etc/apt/sources.list ]; then
        uri="$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' /etc/apt/sources.list)"
        case "$uri" in http://*|https://*|file:/*) echo "${uri%/}"; return 0 ;; esac
    fi
    echo "$DEFAULT_MIRROR"
}
mirror="${AGENTTOWER_BENCH_MIRROR:-$(find_mirror)}"

# --- cache -----------------------------------------------------------------
# Two levels, both under $cache_dir:
#   debootstrap-*.tgz  the downloaded packages (debootstrap --make-tarball);
#                      lets a rebuild run without network.
#   rootfs-*.tar.gz    the finished, trimmed root file system; lets a rebuild
#                      after `docker rmi` skip debootstrap entirely (a plain
#                      `docker import`, a few seconds). Its name includes a
#                      hash of this script, so editing the recipe invalidates it.
# --force ignores the rootfs cache (debootstrap runs again from the cached
# packages); delete $cache_dir to download the packages again.
cache_dir="${AGENTTOWER_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agenttower/bench}"
mkdir -p "$cache_dir"
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
key="$(printf '%s|%s|%s|%s|%s' "$SUITE" "$VARIANT" "$INCLUDE" "$arch" "$mirror" | sha256sum | cut -c1-12)"
tarball="$cache_dir/debootstrap-$SUITE-$arch-$VARIANT-$key.tgz"
rootfs="$cache_dir/rootfs-$SUITE-$arch-$VARIANT-$key-$recipe.tar.gz"

# Serialise concurrent builds (two setup runs at once, for example).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache_dir/.lock"
    flock 9
    if [ "$force" = 0 ] && up_to_date; then
        log "image $image was built by a concurrent run"
        exit 0
    fi
fi

import_rootfs() {
    local old_id
    old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    log "importing $rootfs into docker as $image"
    docker import \
        --change 'CMD ["sleep","infinity"]' \
        --change "LABEL $RECIPE_LABEL=$recipe" \
        --message "agenttower bench image: debian $SUITE $VARIANT + $INCLUDE" \
        - "$image" <"$rootfs" >/dev/null
    docker image inspect "$image" >/dev/null 2>&1 || die "import finished but $image is missing"
    # A rebuild leaves the previous image without this tag; drop it only if no
    # other tag names it (`docker rmi ID` deletes an image whose one remaining
    # tag is another name, e.g. a copy someone else still uses) and no
    # container uses it (then rmi refuses).
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$image")" ] \
        && [ "$(docker image inspect -f '{{len .RepoTags}}' "$old_id" 2>/dev/null)" = 0 ]; then
        docker rmi "$old_id" >/dev/null 2>&1 || true
    fi
    log "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
}

if [ "$force" = 0 ] && [ -s "$rootfs" ]; then
    log "using cached root file system"
    import_rootfs
    exit 0
fi

# --- temporary root --------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/agenttower-bench.XXXXXX")"
cleanup() {
    local m
    # debootstrap mounts proc/sys (and, in some containers, binds /dev) in
    # the target; make sure nothing is still mounted before deleting.
    if [ -n "${work:-}" ] && [ -d "$work" ]; then
        awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r \
            | while IFS= read -r m; do $SUDO umount -l "$m" 2>/dev/null || true; done
        $SUDO rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root="$work/root"
opts=(--variant="$VARIANT" --include="$INCLUDE" --arch="$arch")

if [ ! -s "$tarball" ]; then
    log "downloading packages from $mirror into $tarball"
    $SUDO "$DEBOOTSTRAP" "${opts[@]}" --make-tarball="$work/debs.tgz" \
        "$SUITE" "$work/dl" "$mirror" >"$work/make-tarball.log" 2>&1 \
        || { tail -n 30 "$work/make-tarball.log" >&2; die "debootstrap --make-tarball failed"; }
    $SUDO chown "$(id -u):$(id -g)" "$work/debs.tgz"
    mv -f "$work/debs.tgz" "$tarball"
    $SUDO rm -rf --one-file-system "$work/dl"
else
    log "using cached packages $tarball"
fi

log "bootstrapping $SUITE ($VARIANT + $INCLUDE) in $root"
if ! $SUDO "$DEBOOTSTRAP" "${opts[@]}" --unpack-tarball="$tarball" \
        "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    rm -f "$tarball"   # possibly stale or corrupt: next run downloads again
    die "debootstrap failed (cached tarball removed; re-run to download again)"
fi

# Trim what a bench container never needs: downloaded .debs, apt lists,
# manuals, translations and docs (the copyright files are kept). This takes
# the image from about 121 MB to about 77 MB.
$SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/var/log/bootstrap.log "$root"/debootstrap \
    "$root"/usr/share/man/* "$root"/usr/share/info/*
$SUDO find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} +
$SUDO find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete

log "saving root file system to $rootfs"
$SUDO tar --numeric-owner -C "$root" -c . | gzip -1 >"$work/rootfs.tar.gz"
mv -f "$work/rootfs.tar.gz" "$rootfs"
# Drop root file systems cached by older versions of this script.
find "$cache_dir" -maxdepth 1 -name "rootfs-$SUITE-$arch-$VARIANT-$key-*.tar.gz" \
    ! -name "${rootfs##*/}" -delete
import_rootfs
