#!/usr/bin/env bash
# Fetch the example workspaces that ship with tmuxp (its sdist's examples/ folder) for
# tests/integration/test_tmuxp.py: they are tmuxp's files, so they are not copied into
# this repo. Pinned like agent-clis.sh (a new release must not change a run on an
# unchanged tree); the wheel does not carry them, the sdist does. Downloaded once per
# version into a cache dir outside the checkout with pip's own client. Prints the
# examples dir; .ci/run exports it as AGENTTOWER_TMUXP_EXAMPLES.
set -euo pipefail

version="1.76.0"
python="${PYTHON:-python3}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/agenttower-ci"
dir="$cache/tmuxp-$version"

log() { printf 'tmuxp-examples: %s\n' "$*" >&2; }

if [ -f "$dir/examples/3-pane.yaml" ]; then
    log "reusing $dir/examples"
else
    log "downloading the tmuxp $version sdist into $dir"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    "$python" -m pip download -q --no-binary :all: --no-deps "tmuxp==$version" -d "$dir.tmp" >&2
    tar -xzf "$dir.tmp/tmuxp-$version.tar.gz" -C "$dir.tmp" --strip-components=1 "tmuxp-$version/examples"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
fi
echo "$dir/examples"
