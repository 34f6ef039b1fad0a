"""A pane's git worktree: made before the pane starts, checked and removed only when asked.

git runs where the pane runs, through the target's exec prefix (nothing on the host,
`docker exec -i CONTAINER` for a container), so the repo path is the one the target
sees. agenttower never removes a worktree by itself: removing a pane or deleting a
layout leaves it and its changes; `--prune-worktree` removes it with plain `git worktree
remove` (no `--force`), after refusing up front when it has uncommitted changes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from agenttower.model.resolved import Worktree

from .calls import Calls, OutOfTime
from .target import ExecTarget

TIMEOUT_S = 30.0

# $1 repo, $2 branch, $3 path. An existing worktree at the path is reused as it is (a
# restart or a resume comes back to the same directory and its changes); an existing
# branch is checked out there, else the branch is made from the repo's HEAD.
ENSURE = r"""
repo=$1 branch=$2 path=$3
if [ -e "$path/.git" ]; then
  top=$(git -C "$path" rev-parse --show-toplevel) || exit 1
  [ "$top" = "$(cd "$path" && pwd -P)" ] || { echo "$path is not a worktree's top" >&2; exit 1; }
  exit 0
fi
mkdir -p "$(dirname "$path")" || exit 1
if git -C "$repo" show-ref --verify --quiet "refs/heads/$branch"; then
  exec git -C "$repo" worktree add --quiet "$path" "$branch"
fi
exec git -C "$repo" worktree add --quiet -b "$branch" "$path"
"""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str = ""  # git's own words when it failed


def _git(target: ExecTarget, script: str, *args: str, calls: Calls | None = None) -> Outcome:
    """Through the session's calls, as tmux is: its deadline bounds git, and a stopping
    controller kills it (Interrupted goes up, as from a tmux call: the pass stops)."""
    calls = calls or Calls()
    argv = target.command("sh", "-c", script, "agenttower-worktree", *args)
    try:
        timeout = calls.timeout(TIMEOUT_S)
        proc = calls.run(argv, None, timeout, target.environment(), target.key)
    except (subprocess.TimeoutExpired, OutOfTime):
        return Outcome(False, "git did not answer in time")
    except OSError as exc:
        return Outcome(False, f"cannot run {argv[0]}: {exc.strerror}")
    text = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return Outcome(proc.returncode == 0, " ".join(text)[-400:] if proc.returncode else proc.stdout)


def ensure(target: ExecTarget, tree: Worktree, calls: Calls | None = None) -> Outcome:
    """The worktree exists at `tree.path` on `tree.branch` (made now, or already there)."""
    return _git(target, ENSURE, tree.repo, tree.branch, tree.path, calls=calls)


def changes(target: ExecTarget, tree: Worktree) -> Outcome:
    """`git status --porcelain` of the worktree: ok with an empty message when it is clean
    (and when it is gone already); ok with the changed paths when it is not."""
    return _git(
        target,
        '[ -e "$1/.git" ] || exit 0; git -C "$1" status --porcelain --untracked-files=normal',
        tree.path,
    )


def remove(target: ExecTarget, tree: Worktree) -> Outcome:
    """`git worktree remove` (no --force: git refuses a worktree with changes itself); the
    branch and its commits stay."""
    return _git(
        target, '[ -e "$2/.git" ] || exit 0; exec git -C "$1" worktree remove "$2"', tree.repo, tree.path
    )
