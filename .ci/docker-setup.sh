#!/usr/bin/env bash
# Make a docker engine and the agenttower bench image available.
#
# Idempotent: installs docker.io/debootstrap only if missing, starts dockerd
# only if `docker info` does not answer, and builds the bench image only if it
# does not exist yet or was built from another recipe: build.sh labels the
# image with a hash of itself and compares it, so a machine with an older
# image cached (one that set LANG=C.UTF-8, say) gets the current one. Safe to
# run repeatedly. Exits 0 when the engine answers and the image is current.
#
# Environment:
#   AGENTTOWER_BENCH_IMAGE   image to build (default agenttower-bench:test)
#   AGENTTOWER_DOCKERD_LOG   dockerd log file (default /tmp/agenttower-dockerd.log)
#   AGENTTOWER_DOCKERD_OPTS  extra/override options for dockerd (word-split)
#   AGENTTOWER_DOCKERD_WAIT  seconds to wait for the engine (default 60)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
image="${AGENTTOWER_BENCH_IMAGE:-agenttower-bench:test}"
dockerd_log="${AGENTTOWER_DOCKERD_LOG:-/tmp/agenttower-dockerd.log}"
wait_s="${AGENTTOWER_DOCKERD_WAIT:-60}"
export PATH="$PATH:/usr/sbin:/sbin"   # dockerd and debootstrap live in /usr/sbin

log() { printf 'docker-setup: %s\n' "$*" >&2; }
die() { printf 'docker-setup: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
    SUDO="sudo"
fi

# One run at a time: two concurrent runs would otherwise both see a silent
# engine and both start dockerd. (The lock fd is closed for dockerd below.)
if command -v flock >/dev/null 2>&1; then
    exec 8>>"${TMPDIR:-/tmp}/agenttower-docker-setup.lock"
    flock -n 8 || { log "waiting for another docker-setup run"; flock 8; }
fi

# --- 1. packages -----------------------------------------------------------
# A client-only `docker` binary may already be on PATH (e.g. /usr/local/bin/
# docker), so test for the daemon itself, not for the CLI.
pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
if [ "${#pkgs[@]}" -gt 0 ]; then
    log "installing ${pkgs[*]}"
    # Keep the package's maintainer scripts from starting the docker service
    # with its default configuration: we start dockerd ourselves below. Only
    # add a policy-rc.d if none exists, and remove it again afterwards.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        added_policy=1
        trap '[ "$added_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
    fi
    apt_install() {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y \
            --no-install-recommends -o DPkg::Lock::Timeout=600 "${pkgs[@]}"
    }
    if ! apt_install; then
        log "apt-get install failed; running apt-get update and retrying"
        $SUDO apt-get update -o DPkg::Lock::Timeout=600 || true
        apt_install || die "could not install ${pkgs[*]}"
    fi
    if [ "$added_policy" = 1 ]; then
        $SUDO rm -f "$policy"
        added_policy=0
    fi
    command -v dockerd >/dev/null 2>&1 || die "dockerd still not found after installing docker.io"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap still not found after installing it"
fi
command -v docker >/dev/null 2>&1 || die "docker CLI not found"

# --- 2. engine -------------------------------------------------------------
# dockerd options. On this kind of host (a VM with a real kernel, full root
# capabilities, cgroup v1, an ext4 root file system and working nf_tables
# iptables) dockerd works with its defaults: overlay2 storage, the docker0
# bridge and iptables rules all come up, so bench containers get normal
# networking and copy-on-write layers. Hence we pass no sandbox options by
# default and only pin the storage driver when the root file system cannot
# hold overlay2 upper dirs (e.g. / on overlayfs itself, as inside another
# container), where vfs is the driver that always works (at the cost of
# copying full layers). If dockerd still fails to come up, we retry once with
# the most conservative set, --iptables=false --ip-masq=false --bridge=none
# --storage-driver=vfs, which needs neither netfilter nor overlayfs (bench
# containers then run without network, which tmux does not need; docker
# falls back to network "none" when the default bridge is disabled).
# AGENTTOWER_DOCKERD_OPTS overrides all of this.
engine_up() { docker info >/dev/null 2>&1; }

dockerd_pid() {
    local p
    p="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null \
        && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = dockerd ]; then
        echo "$p"
    fi
}

wait_engine() {   # wait_engine PID SECONDS -> 0 when up, 1 when PID died or timeout
    local pid="$1" deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_up && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 1
    done
    engine_up
}

start_dockerd() {   # start_dockerd OPTS... -> prints the pid
    {
        echo "=== $(date -u +%FT%TZ) docker-setup: dockerd $*"
    } >>"$dockerd_log"
    # setsid: keep dockerd alive after this script (and its job) exits.
    $SUDO setsid dockerd "$@" </dev/null >>"$dockerd_log" 2>&1 8>&- &
    echo $!
}

if engine_up; then
    log "docker engine already answers"
else
    pid="$(dockerd_pid)"
    if [ -n "$pid" ]; then
        log "dockerd (pid $pid) is running but not answering yet; waiting up to ${wait_s}s"
        wait_engine "$pid" "$wait_s" \
            || die "dockerd pid $pid does not answer after ${wait_s}s; see $dockerd_log"
    else
        if [ -n "${AGENTTOWER_DOCKERD_OPTS+x}" ]; then
            read -r -a opts <<<"$AGENTTOWER_DOCKERD_OPTS"
            fallback=()
        else
            opts=()
            root_fs="$(stat -f -c %T /var/lib 2>/dev/null || echo unknown)"
            case "$root_fs" in
                overlayfs|overlay|tmpfs|aufs|fuseblk|fuse*) opts+=(--storage-driver=vfs) ;;
            esac
            fallback=(--iptables=false --ip-masq=false --bridge=none --storage-driver=vfs)
        fi
        log "starting dockerd ${opts[*]:-(default options)}; log: $dockerd_log"
        pid="$(start_dockerd "${opts[@]}")"
        if ! wait_engine "$pid" "$wait_s"; then
            if kill -0 "$pid" 2>/dev/null || [ "${#fallback[@]}" -eq 0 ]; then
                tail -n 20 "$dockerd_log" >&2 || true
                die "docker engine did not answer within ${wait_s}s (dockerd ${opts[*]}); see $dockerd_log"
            fi
            log "dockerd exited; retrying with ${fallback[*]}"
            tail -n 5 "$dockerd_log" >&2 || true
            pid="$(start_dockerd "${fallback[@]}")"
            if ! wait_engine "$pid" "$wait_s"; then
                tail -n 20 "$dockerd_log" >&2 || true
                die "docker engine did not answer within ${wait_s}s; see $dockerd_log"
            fi
        fi
        log "docker engine is up (dockerd pid $pid)"
    fi
fi

# --- 3. bench image --------------------------------------------------------
"$repo/deploy/bench-image/build.sh" "$image" \
    || die "building the bench image $image failed"
docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing after build"
recipe="$(docker image inspect -f '{{index .Config.Labels "dev.agenttower.bench.recipe"}}' "$image")"
log "ok: engine answers and $image exists (recipe $recipe)"
