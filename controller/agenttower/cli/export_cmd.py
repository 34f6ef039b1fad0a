"""`export session NAME`: a running tmux session as the manifests that re-create it (the
declarative cousin of `tmuxp freeze`): a LaunchProfile per pane (what it runs now and
where) and a Layout per window with inline panes, on stdout for `apply -f`."""

from __future__ import annotations

from typing import Any

import click

from .common import output_option, verb

# window index, its layout string, pane index, pane pid, current path, current command
FORMAT = "\t".join(
    (
        "#{window_index}",
        "#{window_layout}",
        "#{pane_index}",
        "#{pane_pid}",
        "#{pane_current_path}",
        "#{pane_current_command}",
    )
)


def layouts_of(session: str, rows: list[list[str]], argv: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The manifests of one session's panes (rows of FORMAT, in tmux's order): one Layout
    per window (session `<name>-w<index>` when there are several), profiles first."""
    from agenttower.model.constants import API_VERSION
    from agenttower.model.tmuxp import name_of

    windows: dict[str, list[list[str]]] = {}
    for row in rows:
        windows.setdefault(row[0], []).append(row)
    base = name_of(session)
    profiles: list[dict[str, Any]] = []
    layouts: list[dict[str, Any]] = []
    for index, panes_rows in windows.items():
        name = base if len(windows) == 1 else name_of(f"{base}-w{index}")
        panes = []
        for ordinal, (_, _, _, pid, path, current) in enumerate(panes_rows, start=1):
            label = f"p{ordinal}"
            profile = f"{name[: 63 - len(label)]}.{label}"
            spec: dict[str, Any] = {"command": list(argv.get(pid) or (current,))}
            if path.startswith("/"):
                spec["workingDir"] = path
            profiles.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": "LaunchProfile",
                    "metadata": {"name": profile},
                    "spec": spec,
                }
            )
            panes.append({"role": "pane", "capability": "shell", "labelPattern": label, "launch": profile})
        layout_spec: dict[str, Any] = {"session": name, "panes": panes, "tmuxLayout": panes_rows[0][1]}
        layouts.append(
            {"apiVersion": API_VERSION, "kind": "Layout", "metadata": {"name": name}, "spec": layout_spec}
        )
    return profiles + layouts


@click.command("export")
@click.argument("kind", type=click.Choice(("session",)))
@click.argument("name")
@click.option("--target", default="host", show_default=True, help="host, host:<socket> or container:<name>")
@output_option(default="yaml", choices=("yaml", "json"))
@verb()
def export_command(kind: str, name: str, target: str, output: str) -> None:
    """Print manifests that re-create a running tmux session: what each pane runs and where.

    Each pane becomes a LaunchProfile (its foreground argv and working directory) and each
    window a Layout with inline panes and the window's layout string. The environment of
    the panes is not exported (a managed pane starts with exactly its profile's).

    \b
    Examples:
      agenttower export session work > work.yaml
      agenttower export session build --target host:ci -o json
    """
    from agenttower.model.errors import validation_failed
    from agenttower.model.manifests import parse_text
    from agenttower.model.resolved import Target
    from agenttower.runtime.foreground import foreground_argv
    from agenttower.runtime.target import ExecTarget
    from agenttower.runtime.tmux import Tmux
    from agenttower.settings import Settings

    from .import_cmd import render

    where = Target.of_key(target)
    tmux = Tmux(ExecTarget(where, Settings.from_env().tmux.binary))
    result = tmux.run(["list-panes", "-s", "-t", f"={name}:", "-F", FORMAT])
    if result.returncode != 0:
        reason = result.stderr.strip() or "no such session"
        raise validation_failed("session", f"no tmux session {name!r} on {where.key} ({reason})")
    rows = [line.split("\t", 5) for line in result.stdout.splitlines() if line.count("\t") == 5]
    manifests = layouts_of(name, rows, foreground_argv(tmux.target, [row[3] for row in rows]))
    parse_text(render(manifests, "yaml") + "\n", f"<export of {name}>")  # valid for `apply -f`
    click.echo(render(manifests, output))
