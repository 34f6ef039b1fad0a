"""The launch wrapper's user, run by a real `sh`: the name agenttower passes when the
pane's effective uid owns the path passed with it, else what `id -un` says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agenttower.runtime.batch import PaneSpawn, running_user


def _started_as(tmp_path: Path, user: str, owned: Path) -> dict[str, str]:
    spawn = PaneSpawn("pane_1", "owner", "token", "spec", "m1", ("env",), user=user, owned_path=str(owned))
    argv = spawn.argv()[1:]  # what tmux would exec, `--` dropped
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _id_un() -> str:
    return subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()


def test_running_user_is_what_id_says() -> None:
    assert running_user() == _id_un()


def test_the_named_user_is_taken_when_the_pane_owns_the_path(tmp_path: Path) -> None:
    # a name `id` would never print: proves the wrapper took it without asking
    seen = _started_as(tmp_path, "someone-else", tmp_path)
    assert (seen["USER"], seen["LOGNAME"]) == ("someone-else", "someone-else")


@pytest.mark.parametrize("case", ["not owned", "missing", "no name"])
def test_otherwise_the_wrapper_asks_id(tmp_path: Path, case: str) -> None:
    owned = tmp_path / "path"
    owned.mkdir()
    user = "someone-else"
    if case == "not owned":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a path to another uid")
        os.chown(owned, 65534, 65534)
    elif case == "missing":
        owned = tmp_path / "nonesuch"
    else:
        user = ""
    seen = _started_as(tmp_path, user, owned)
    assert seen["USER"] == seen["LOGNAME"] == _id_un()
