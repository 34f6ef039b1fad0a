"""The service files in deploy/ say what docs/controller.md promises."""

from __future__ import annotations

import configparser
import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(path)
    return parser


def test_systemd_unit_never_kills_the_tmux_server_it_started() -> None:
    service = unit(DEPLOY / "systemd" / "agenttower.service")["Service"]
    assert service["KillMode"] == "process"
    assert service["Restart"] == "on-failure"
    assert service["Type"] in ("simple", "notify")
    assert "controller run" in service["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for name in ("agenttower.service", "tmux.service"):
        text = (DEPLOY / "systemd" / name).read_text().replace("%h/.local/bin/agenttower", "/bin/true")
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, tmp_path.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "error" not in result.stderr.lower(), result.stderr


def test_launchd_plist_runs_the_controller_and_keeps_tmux() -> None:
    plist = plistlib.loads((DEPLOY / "launchd" / "dev.agenttower.controller.plist").read_bytes())
    assert plist["ProgramArguments"][1:3] == ["controller", "run"]
    assert plist["AbandonProcessGroup"] is True
