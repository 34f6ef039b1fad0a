"""`workspace: {worktree: {repo, branch}}`: each pane of a layout runs in its own git
worktree, made before it starts and reused after; `remove` and `delete` never delete a
worktree or its changes, and `--prune-worktree` refuses while one has uncommitted work.
A real git repo in the test's tmp dir and the test's own tmux server."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.integration.test_containers import IMAGE, Bench, DockerLog, benches, docker_engine, docker_log
from tests.integration.test_controller import panes as panes_of
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["benches", "docker_engine", "docker_log"]  # fixtures, used by name
GIT = os.path.realpath(shutil.which("git") or "/usr/bin/git")

# the "agent": leaves uncommitted work in its working directory, then stays
WORKER = ["sh", "-c", "echo work > notes.txt; exec sleep 600"]
PANES = [
    {"role": "worker", "capability": "coder", "labelPattern": "w{ordinal}", "launch": "worker"},
    {"role": "worker", "capability": "coder", "labelPattern": "w{ordinal}", "launch": "worker"},
]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repo(root: Path) -> Path:
    repo = root / "proj"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README").write_text("hello\n")
    git("add", "README", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    return repo


def apply_team(env: Env, at: type[AtCli], repo: Path) -> None:
    workspace = {"worktree": {"repo": str(repo), "branch": "agents/{layout}/{label}"}}
    path = write(
        env.root / "team.yaml",
        layout("team", None, panes=PANES, workspace=workspace),
        profile("worker", WORKER),
    )
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 0, result.output + result.stderr


def pane_paths(env: Env) -> dict[str, str]:
    """label -> the working directory tmux shows for each live pane of the test's server
    (the label from the pane record the pane is tagged with)."""
    out = env.tmux(
        "list-panes", "-a", "-F", "#{@agenttower_pane}\t#{pane_current_path}\t#{pane_dead}", check=False
    )
    records = {p["status"]["id"]: p["metadata"]["name"].split("/")[1] for p in panes_of(AtCli)}
    rows = [line.split("\t") for line in out.stdout.splitlines() if line]
    return {records[rec]: path for rec, path, dead in rows if dead == "0" and rec in records}


def worktree(repo: Path, label: str) -> Path:
    return repo.parent / "proj.worktrees" / "agents" / "team" / label


def test_two_panes_get_two_worktrees_on_two_branches(env: Env, at: type[AtCli]) -> None:
    repo = make_repo(env.root)
    same = [{**p, "launch": "plain-worker"} for p in PANES]
    plain = write(env.root / "plain.yaml", layout("plain", None, panes=same), profile("plain-worker", WORKER))
    env.reset_calls()
    assert at.run("apply", "-f", str(plain)).exit_code == 0
    without = env.tmux_calls()
    env.reset_calls()
    apply_team(env, at, repo)
    assert len(without) >= 2  # the observation and the creation batch at least
    # the worktrees cost git processes, not tmux calls: the same tmux calls as without them
    assert [c.split()[0] for c in env.tmux_calls()] == [c.split()[0] for c in without]
    trees = {label: worktree(repo, label) for label in ("w1", "w2")}
    eventually(lambda: all((t / "notes.txt").exists() for t in trees.values()), what="both agents' work")
    assert {label: Path(p) for label, p in pane_paths(env).items()} == trees
    for label, tree in trees.items():
        assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=tree) == f"agents/team/{label}"
        assert (tree / "README").read_text() == "hello\n"  # a checkout of the repo's HEAD
    listed = git("worktree", "list", "--porcelain", cwd=repo)
    assert sorted(line for line in listed.splitlines() if line.startswith("branch ")) == [
        "branch refs/heads/agents/team/w1",
        "branch refs/heads/agents/team/w2",
        "branch refs/heads/main",  # the repo's own checkout
    ]
    assert git("status", "--porcelain", cwd=repo) == ""  # the repo's own checkout is untouched
    described = at.json("get", "pane", "team/w1")
    assert described["spec"]["launch"]["workingDir"] == str(trees["w1"])
    assert described["spec"]["launch"]["worktree"] == {
        "repo": str(repo),
        "branch": "agents/team/w1",
        "path": str(trees["w1"]),
    }

    # a restart (a new record for the slot) runs in the same worktree, its work still there
    (trees["w1"] / "notes.txt").write_text("kept\n")
    restarted = at.run("restart", "pane", "team/w1")
    assert restarted.exit_code == 0, restarted.output + restarted.stderr
    assert at.json("get", "pane", "team/w1")["status"]["id"] != described["status"]["id"]
    eventually(lambda: Path(pane_paths(env).get("w1", "")) == trees["w1"], what="the successor in w1")
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=trees["w1"]) == "agents/team/w1"
    assert len(git("worktree", "list", "--porcelain", cwd=repo).split("\n\n")) == 3


def test_remove_and_delete_keep_worktrees_and_prune_refuses_uncommitted_work(
    env: Env, at: type[AtCli]
) -> None:
    repo = make_repo(env.root)
    apply_team(env, at, repo)
    w1, w2 = worktree(repo, "w1"), worktree(repo, "w2")
    eventually(lambda: (w1 / "notes.txt").exists() and (w2 / "notes.txt").exists(), what="the agents' work")

    w2_id = next(p["status"]["id"] for p in panes_of(at) if p["metadata"]["name"] == "team/w2")
    kept = at.run("remove", "pane", w2_id, "--prune-worktree")  # by record id: the same check
    assert kept.exit_code == 1 and f"worktree {w2} of pane team/w2" in kept.stderr, kept.stderr
    assert set(pane_paths(env)) == {"w1", "w2"}

    removed = at.run("remove", "pane", "team/w1")
    assert removed.exit_code == 0, removed.output + removed.stderr
    assert set(pane_paths(env)) == {"w2"}
    assert (w1 / "notes.txt").read_text() == "work\n"  # the pane is gone, its work is not

    refused = at.run("delete", "layout", "team", "--prune-worktree")
    assert refused.exit_code == 1
    assert "validation_failed" in refused.stderr and "--prune-worktree" in refused.stderr
    assert f"worktree {w1} of pane team/w1" in refused.stderr and "uncommitted" in refused.stderr
    assert set(pane_paths(env)) == {"w2"}  # nothing touched: the layout still runs
    assert at.json("get", "layout", "team")["status"]["state"] != "removed"

    deleted = at.run("delete", "layout", "team")
    assert deleted.exit_code == 0, deleted.output + deleted.stderr
    assert pane_paths(env) == {}
    assert (w1 / "notes.txt").exists() and (w2 / "notes.txt").exists()
    assert len(git("worktree", "list", "--porcelain", cwd=repo).split("\n\n")) == 3

    # applied again: the same worktrees are reused, work and all (a new pane, same directory)
    apply_team(env, at, repo)
    eventually(lambda: set(pane_paths(env)) == {"w1", "w2"}, what="the panes back")
    assert Path(pane_paths(env)["w1"]) == w1

    for tree in (w1, w2):  # the work is committed: now pruning may go ahead
        git("add", "-A", cwd=tree)
        git("commit", "-q", "-m", "agent work", cwd=tree)
    one = at.run("remove", "pane", "team/w2", "--prune-worktree")
    assert one.exit_code == 0, one.output + one.stderr
    assert not w2.exists() and (w1 / "notes.txt").exists()
    pruned = at.run("delete", "layout", "team", "--prune-worktree")
    assert pruned.exit_code == 0, pruned.output + pruned.stderr
    assert not w1.exists()
    assert f"worktree {w1} pruned (branch agents/team/w1 kept)" in pruned.stderr
    branches = git("branch", "--list", "agents/*", "--format=%(refname:short)", cwd=repo).splitlines()
    assert branches == ["agents/team/w1", "agents/team/w2"]  # the commits stay on their branches
    assert git("log", "-1", "--format=%s", "agents/team/w1", cwd=repo) == "agent work"
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1


# ---- a container target: git runs inside the container, on the repo it sees ----------------


@pytest.fixture
def git_box(docker_engine: str, env: Env) -> Iterator[str]:
    """A bench container that sees the test's tmp dir at the same path (read-write) and the
    host's git binary (read-only; the bench image has its libraries but not git itself)."""
    name = f"at-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    argv = [docker_engine, "run", "-d", "--name", name, "--label", "agenttower.dev/test=1"]
    argv += ["-v", f"{env.root}:{env.root}", "-v", f"{GIT}:/usr/bin/git:ro"]
    argv += ["-v", "/usr/lib/git-core:/usr/lib/git-core:ro"]
    try:
        subprocess.run([*argv, IMAGE], capture_output=True, text=True, check=True, timeout=60)
        yield name
    finally:
        subprocess.run([docker_engine, "rm", "-f", name], capture_output=True, check=False, timeout=60)


def test_a_container_pane_gets_its_worktree_made_by_git_inside_the_container(
    env: Env, at: type[AtCli], git_box: str, docker_log: DockerLog
) -> None:
    repo = make_repo(env.root)
    logs = env.root / "logs"
    logs.mkdir()
    target = {"container": git_box, "logMount": {"containerPath": str(logs), "hostPath": str(logs)}}
    workspace = {"worktree": {"repo": str(repo), "branch": "agents/{layout}/{label}"}}
    path = write(
        env.root / "team.yaml",
        layout("team", None, panes=PANES, workspace=workspace, target=target),
        profile("worker", WORKER),
    )
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    w1, w2 = worktree(repo, "w1"), worktree(repo, "w2")
    eventually(lambda: (w1 / "notes.txt").exists() and (w2 / "notes.txt").exists(), what="the agents' work")
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=w2) == "agents/team/w2"
    logged = docker_log.path.read_text()  # the script spans lines: read the argv text itself
    assert logged.count(f"exec -i {git_box} sh -c ") >= 2  # git ran by `docker exec`, not on the host
    assert logged.count(f"agenttower-worktree {repo} agents/team/") == 2
    states = {p["metadata"]["name"]: p["status"]["state"] for p in panes_of(at)}
    assert states == {"team/w1": "ready", "team/w2": "ready"}

    refused = at.run("delete", "layout", "team", "--prune-worktree")
    assert refused.exit_code == 1 and "uncommitted" in refused.stderr, refused.stderr
    deleted = at.run("delete", "layout", "team")
    assert deleted.exit_code == 0, deleted.output + deleted.stderr
    assert (w1 / "notes.txt").exists() and (w2 / "notes.txt").exists()


def test_a_container_without_git_fails_the_pane_at_pane_create_with_gits_words(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    workspace = {"worktree": {"repo": "/src/app"}}
    path = write(
        env.root / "team.yaml",
        layout("team", None, panes=PANES[:1], workspace=workspace, target=bench.target()),
        profile("worker", WORKER),
    )
    at.run("apply", "-f", str(path))
    (status,) = [p["status"] for p in panes_of(at)]
    assert (status["state"], status["failedStage"]) == ("failed", "pane_create")
    assert "worktree /src/app.worktrees/agenttower/team/w1" in status["reason"]
    assert "git" in status["reason"] and "not found" in status["reason"]
    assert env.tmux("list-panes", "-a", check=False).stdout == ""  # no pane was started elsewhere
