"""A tmuxp workspace (YAML or JSON) turned into agenttower manifests, as plain data.

tmuxp starts each pane's shell and types its commands into it; agenttower has the same
thing in `initialInput` (typed once, when the pane is first ready), so commands map
onto it and the pane keeps its shell afterwards. A tmuxp session may hold several
windows, an agenttower Layout is one window: each window becomes a Layout of its own
(session `<session>-<window>`), a workspace of one window keeps its session name.
What agenttower cannot honour (tmux options, plugins, scripts, keys typed without
Enter) is an error naming the field and its line, never dropped silently; what only
changes what is on view (`focus`, `window_index`) is dropped with a warning.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from .constants import API_VERSION
from .errors import SourceLocation, validation_failed
from .yamlload import Document, Path

# `sh -c 'exec "$SHELL" -l'`: what the built-in `shell` profile runs (tmux's default-shell)
DEFAULT_SHELL = ["sh", "-c", 'exec "$SHELL" -l']

# the fields of each level that are mapped; everything else is refused (UNSUPPORTED says why)
SESSION_KEYS = {
    "session_name",
    "windows",
    "start_directory",
    "shell_command_before",
    "environment",
    "suppress_history",
}
WINDOW_KEYS = {
    "window_name",
    "panes",
    "layout",
    "start_directory",
    "shell_command_before",
    "environment",
    "window_shell",
    "suppress_history",
}
PANE_KEYS = {
    "shell_command",
    "start_directory",
    "environment",
    "shell",
    "suppress_history",
    "sleep_before",
    "sleep_after",
    "enter",
}
COMMAND_KEYS = {"cmd", "sleep_before", "sleep_after", "enter"}
IGNORED = {
    "focus": "agenttower does not select panes or windows",
    "window_index": "each window becomes a Layout of its own",
}
UNSUPPORTED = {
    "options": "agenttower does not set tmux options",
    "global_options": "agenttower does not set tmux options",
    "options_after": "agenttower does not set tmux options",
    "plugins": "tmuxp plugins do not run under agenttower",
    "before_script": "agenttower runs no script before a layout; put it in a pane's command",
    "enter": "agenttower types commands followed by Enter (enter: false cannot be honoured)",
}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
BLANK = ("pane", "blank")  # tmuxp's words for a pane with no command


@dataclass(frozen=True)
class Imported:
    """The manifests (in apply order: profiles, then layouts) and the fields dropped."""

    manifests: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()


def name_of(text: str, fallback: str = "tmuxp") -> str:
    """A tmux session name as an agenttower name: runs of other characters become `-`."""
    cleaned = _NOT_NAME.sub("-", text).strip("-")[:64].strip("-")
    return cleaned or fallback


def _expand(value: str) -> str:
    """What tmuxp does to names and directories: `~` and `$VAR` / `${VAR}`."""
    return os.path.expandvars(os.path.expanduser(value))


@dataclass
class _Converter:
    doc: Document
    base: FsPath  # the workspace file's directory: `./` is relative to it
    warnings: list[str] = field(default_factory=list)

    def at(self, path: Path) -> SourceLocation:
        return self.doc.where(path)

    def check_keys(self, data: Mapping[str, Any], allowed: set[str], path: Path) -> None:
        for key in data:
            where = (*path, key)
            shown = ".".join(str(p) for p in where)
            if key == "enter" and data[key] is not False:
                continue
            if key in allowed and key != "enter":
                continue
            if key in IGNORED:
                self.warnings.append(f"{self.at(where)}: {shown}: ignored ({IGNORED[key]})")
                continue
            why = UNSUPPORTED.get(key, "not a tmuxp field agenttower knows")
            raise validation_failed(shown, f"tmuxp field not supported: {why}", self.at(where))

    def mapping(self, value: Any, path: Path) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            shown = ".".join(str(p) for p in path) or "document"
            raise validation_failed(shown, "must be a mapping", self.at(path))
        return value

    def directory(self, value: Any, parent: str | None, path: Path) -> str:
        if not isinstance(value, str):
            raise validation_failed(".".join(map(str, path)), "must be a string", self.at(path))
        expanded = _expand(value)
        if expanded.startswith("."):
            return str((FsPath(parent) if parent else self.base).joinpath(expanded).resolve(strict=False))
        if not os.path.isabs(expanded):
            return os.path.normpath(os.path.join(parent or str(self.base), expanded))
        return os.path.normpath(expanded)

    def environment(self, value: Any, path: Path) -> dict[str, str]:
        env = self.mapping(value, path)
        out: dict[str, str] = {}
        for key, raw in env.items():
            text = _expand(str(raw)) if not isinstance(raw, bool) else str(raw).lower()
            out[str(key)] = str(self.base / text) if text.startswith(".") else text
        return out

    def commands(self, value: Any, path: Path) -> list[str]:
        """A `shell_command(_before)` as the lines to type; `sleep_*` become `sleep N` lines."""
        if value is None or value == "":
            return []
        items = value if isinstance(value, list) else [value]
        lines: list[str] = []
        for index, item in enumerate(items):
            where = (*path, index) if isinstance(value, list) else path
            if item is None or item == "":
                continue
            if isinstance(item, str):
                lines.append(item)
                continue
            command = self.mapping(item, where)
            self.check_keys(command, COMMAND_KEYS, where)
            lines += self.sleep(command.get("sleep_before"), (*where, "sleep_before"))
            if command.get("cmd"):
                lines.append(str(command["cmd"]))
            lines += self.sleep(command.get("sleep_after"), (*where, "sleep_after"))
        return lines

    def sleep(self, value: Any, path: Path) -> list[str]:
        if value is None:
            return []
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise validation_failed(".".join(map(str, path)), "must be a number of seconds", self.at(path))
        return [f"sleep {value:g}"]

    def convert(self) -> Imported:
        session = self.mapping(self.doc.data, ())
        self.check_keys(session, SESSION_KEYS, ())
        raw_name = session.get("session_name")
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise validation_failed(
                "session_name", "required: a tmuxp workspace names its session", self.at(("session_name",))
            )
        session_name = name_of(_expand(raw_name))
        windows = session.get("windows")
        if not isinstance(windows, list) or not windows:
            raise validation_failed(
                "windows", "required: a list of at least one window", self.at(("windows",))
            )
        root = (
            self.directory(session["start_directory"], None, ("start_directory",))
            if "start_directory" in session
            else None
        )
        before = self.commands(session.get("shell_command_before"), ("shell_command_before",))
        env = self.environment(session["environment"], ("environment",)) if "environment" in session else {}
        quiet = bool(session.get("suppress_history", False))
        profiles: list[dict[str, Any]] = []
        layouts: list[dict[str, Any]] = []
        used: set[str] = set()
        for index, raw in enumerate(windows):
            path: Path = ("windows", index)
            window = self.mapping(raw, path)
            self.check_keys(window, WINDOW_KEYS, path)
            name = session_name
            if len(windows) > 1:
                title = window.get("window_name")
                suffix = name_of(_expand(title), str(index)) if isinstance(title, str) else str(index)
                name = name_of(f"{session_name}-{suffix}")
            while name in used:
                name = name_of(f"{name}-{index}")
            used.add(name)
            layout, own = self.window(window, path, name, root, before, env, quiet)
            profiles += own
            layouts.append(layout)
        return Imported(tuple(profiles + layouts), tuple(self.warnings))

    def window(
        self,
        window: Mapping[str, Any],
        path: Path,
        name: str,
        root: str | None,
        before: list[str],
        env: dict[str, str],
        quiet: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        directory = (
            self.directory(window["start_directory"], root, (*path, "start_directory"))
            if "start_directory" in window
            else root
        )
        before = before + self.commands(window.get("shell_command_before"), (*path, "shell_command_before"))
        if "environment" in window:
            env = {**env, **self.environment(window["environment"], (*path, "environment"))}
        quiet = bool(window.get("suppress_history", quiet))
        shell = window.get("window_shell")
        panes_raw = window.get("panes")
        if not isinstance(panes_raw, list) or not panes_raw:
            raise validation_failed(
                ".".join(map(str, (*path, "panes"))),
                "required: a list of at least one pane",
                self.at((*path, "panes")),
            )
        panes: list[dict[str, Any]] = []
        profiles: list[dict[str, Any]] = []
        for index, raw in enumerate(panes_raw):
            where: Path = (*path, "panes", index)
            pane: Mapping[str, Any]
            if raw is None or (isinstance(raw, str) and (raw in BLANK or raw == "")):
                pane = {}
            elif isinstance(raw, str):
                pane = {"shell_command": raw}
            else:
                pane = self.mapping(raw, where)
                self.check_keys(pane, PANE_KEYS, where)
            label = f"p{index + 1}"
            lines = before + self.sleep(pane.get("sleep_before"), (*where, "sleep_before"))
            lines += self.commands(pane.get("shell_command"), (*where, "shell_command"))
            lines += self.sleep(pane.get("sleep_after"), (*where, "sleep_after"))
            if bool(pane.get("suppress_history", quiet)):
                lines = [" " + line for line in lines]  # what tmuxp does: a leading space
            cwd = (
                self.directory(pane["start_directory"], directory, (*where, "start_directory"))
                if "start_directory" in pane
                else directory
            )
            pane_env = env
            if "environment" in pane:
                pane_env = {**env, **self.environment(pane["environment"], (*where, "environment"))}
            program = pane.get("shell", shell)
            entry: dict[str, Any] = {"role": "pane", "capability": "shell", "labelPattern": label}
            if cwd is not None or pane_env or program:
                profile = f"{name[: 63 - len(label)]}.{label}"
                spec: dict[str, Any] = {"command": shlex.split(str(program)) if program else DEFAULT_SHELL}
                if pane_env:
                    spec["env"] = pane_env
                if cwd is not None:
                    spec["workingDir"] = cwd
                profiles.append(_manifest("LaunchProfile", profile, spec))
                entry["launch"] = profile
            text = "\n".join(lines)
            if text.strip():
                entry["initialInput"] = text
            panes.append(entry)
        spec = {"session": name, "panes": panes}
        if isinstance(window.get("layout"), str):
            spec["tmuxLayout"] = window["layout"]
        return _manifest("Layout", name, spec), profiles


def _manifest(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def convert(documents: list[Document], file: FsPath) -> Imported:
    """The one workspace a tmuxp file holds, as agenttower manifests."""
    if len(documents) != 1:
        raise validation_failed("document", "a tmuxp workspace is one document", SourceLocation(str(file)))
    return _Converter(documents[0], file.resolve().parent).convert()
