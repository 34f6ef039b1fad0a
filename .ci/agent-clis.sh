#!/usr/bin/env bash
# Install the real agent CLIs that tests/integration/test_real_agents.py runs offline.
#
# Pinned like constraints.txt, for the same reason: a new release must not change a run
# on an unchanged tree. Installed once per version set into a cache dir outside the
# checkout (CI clones afresh every run), with npm's --prefix so nothing global changes.
# Prints the prefix; .ci/run exports it as AGENTTOWER_AGENT_CLIS.
set -euo pipefail

packages=("@google/gemini-cli@0.61.0" "@openai/codex@0.171.0" "@anthropic-ai/claude-code@2.1.332")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/agenttower-ci"
stamp="$(printf '%s\n' "${packages[@]}" | sha256sum | cut -c1-12)"
prefix="$cache/agent-clis-$stamp"

log() { printf 'agent-clis: %s\n' "$*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
    log "npm is missing (the agent CLIs need Node.js 20+ and npm)"
    exit 1
fi
if [ -x "$prefix/bin/gemini" ] && [ -x "$prefix/bin/codex" ] && [ -x "$prefix/bin/claude" ]; then
    log "reusing $prefix"
else
    log "installing ${packages[*]} into $prefix"
    rm -rf "$prefix.tmp"
    mkdir -p "$cache"
    npm install -g --silent --no-fund --no-audit --prefix "$prefix.tmp" "${packages[@]}" >&2
    rm -rf "$prefix"
    mv "$prefix.tmp" "$prefix"
fi
echo "$prefix"
