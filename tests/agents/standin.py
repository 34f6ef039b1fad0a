#!/usr/bin/env python3
"""A scripted stand-in for a logged-in coding agent, for tests only (never shipped).

The real CLIs need an account and the network to get past their first screen, so the
tests that claim "resume runs with the same session id", "activity follows the hooks"
or "sent text arrives intact" run this instead. It honours the flags and the hook
contract of Claude Code as its own help and docs describe them, nothing more:

- `--session-id UUID` starts a new conversation with that id; `--resume ID` continues
  one, and fails at once with "No conversation found with session ID: ID" (exit 1)
  when this working directory has no such conversation (lookups are per directory,
  as the real CLI's are); `--continue` picks the directory's latest one.
- `--settings JSON|FILE` carries hooks in the settings shape
  (`{"hooks": {Event: [{"matcher": M, "hooks": [{"type": "command", "command": C}]}]}}`);
  each hook runs as `sh -c C` with the event's JSON on stdin (`session_id`, `cwd`,
  `hook_event_name`, `transcript_path`, and `source` or `notification_type`), from
  inside the pane, so `$TMUX_PANE` is there: SessionStart (startup|resume),
  UserPromptSubmit, Notification (permission_prompt) and Stop.
- It turns on bracketed paste and takes a pasted block whole (newlines included),
  drawing `[pasted text, N characters]` as the real CLIs draw a placeholder; a
  carriage return outside a paste submits the message. `/ask` asks for a permission
  (a Notification hook, then "Allow this action? (y/n)"); `y` answers it.
- `STANDIN_OFFLINE=1`: print the real CLI's offline line and exit 1, as Claude Code
  does with no network. `STANDIN_LOGIN=1`: show a sign-in screen and wait, running
  no hook (a login screen comes before any hook can run).
- `STANDIN_INBOX=FILE`: every message received is appended there as one JSON line
  (`session_id`, `text`), so a test can compare what arrived with what was sent.

Conversations live in `$HOME/.standin/<directory slug>/<id>.jsonl`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import termios
import time
import tty
import uuid
from collections.abc import Callable
from pathlib import Path

PASTE_ON, PASTE_OFF = b"\x1b[200~", b"\x1b[201~"


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def store() -> Path:
    slug = os.getcwd().replace("/", "-")
    return Path(os.environ["HOME"]) / ".standin" / slug


def settings(args: list[str]) -> dict[str, object]:
    raw = flag(args, "--settings")
    if raw is None:
        return {}
    text = raw if raw.lstrip().startswith("{") else Path(raw).read_text()
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else {}


class Agent:
    def __init__(self, session_id: str, hooks: dict[str, list[dict[str, object]]]) -> None:
        self.session_id = session_id
        self.hooks = hooks
        self.transcript = store() / f"{session_id}.jsonl"

    def hook(self, event: str, matcher: str = "", **fields: str) -> None:
        payload = {
            "session_id": self.session_id,
            "cwd": os.getcwd(),
            "hook_event_name": event,
            "transcript_path": str(self.transcript),
            **fields,
        }
        for group in self.hooks.get(event, []):
            pattern = str(group.get("matcher", "") or "")
            if pattern and matcher and matcher not in pattern.split("|"):
                continue
            for hook in group.get("hooks", []):  # type: ignore[union-attr]
                if isinstance(hook, dict) and hook.get("type") == "command":
                    subprocess.run(
                        ["sh", "-c", str(hook["command"])],
                        input=json.dumps(payload).encode(),
                        stdout=subprocess.DEVNULL,
                        check=False,
                        timeout=10,
                    )

    def remember(self, role: str, text: str) -> None:
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        with self.transcript.open("a") as fh:
            fh.write(json.dumps({"role": role, "text": text}) + "\n")

    def received(self, text: str) -> None:
        inbox = os.environ.get("STANDIN_INBOX")
        if inbox:
            with open(inbox, "a") as fh:
                fh.write(json.dumps({"session_id": self.session_id, "text": text}) + "\n")


class Reader:
    """Messages from the terminal: a pasted block is kept whole (its line breaks are
    text), typed bytes count as they come, and a carriage return outside a paste ends
    the message. Bytes after that return wait for the next message."""

    def __init__(self, fd: int, on_paste: Callable[[int], None] | None = None) -> None:
        self.fd = fd
        self.pending = b""
        self.on_paste = on_paste  # told the message's length when a paste ends (drawn, as CLIs do)

    def message(self) -> str:
        text = bytearray()
        in_paste = False
        while True:
            marker = PASTE_OFF if in_paste else PASTE_ON
            at = self.pending.find(marker)
            cr = -1 if in_paste else self.pending.find(b"\r")
            if at >= 0 and (cr < 0 or at < cr):
                piece = self.pending[:at]
                text += piece.replace(b"\r", b"\n") if in_paste else piece
                self.pending = self.pending[at + len(marker) :]
                if in_paste and self.on_paste is not None:
                    self.on_paste(len(text.decode("utf-8", "replace")))
                in_paste = not in_paste
            elif cr >= 0:
                text += self.pending[:cr]
                self.pending = self.pending[cr + 1 :]
                return text.decode("utf-8", "replace")
            else:
                keep = self._marker_prefix()
                piece, self.pending = (
                    self.pending[: len(self.pending) - keep],
                    self.pending[len(self.pending) - keep :],
                )
                text += piece.replace(b"\r", b"\n") if in_paste else piece
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise EOFError
                self.pending += chunk

    def _marker_prefix(self) -> int:
        """How many trailing bytes may be the start of a paste marker cut by a read."""
        for size in range(len(PASTE_ON) - 1, 0, -1):
            if self.pending.endswith(PASTE_ON[:size]) or self.pending.endswith(PASTE_OFF[:size]):
                return size
        return 0


def choose_session(args: list[str]) -> tuple[str, str]:
    """(session id, SessionStart source); exits like the real CLI when resume finds nothing."""
    resume = flag(args, "--resume")
    if resume is not None:
        if not (store() / f"{resume}.jsonl").exists():
            print(f"No conversation found with session ID: {resume}", flush=True)
            sys.exit(1)
        return resume, "resume"
    if "--continue" in args:
        found = sorted(store().glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        if not found:
            print("No conversation found to continue", flush=True)
            sys.exit(1)
        return found[-1].stem, "resume"
    return flag(args, "--session-id") or str(uuid.uuid4()), "startup"


def main(args: list[str]) -> int:
    if os.environ.get("STANDIN_OFFLINE") == "1":
        print("Unable to connect to Anthropic services", flush=True)
        print("Failed to connect to api.anthropic.com: ENOTFOUND", flush=True)
        return 1
    session_id, source = choose_session(args)
    hooks = settings(args).get("hooks", {})
    agent = Agent(session_id, hooks if isinstance(hooks, dict) else {})
    fd = sys.stdin.fileno()
    tty.setraw(fd, termios.TCSANOW)
    out = sys.stdout

    def pasted(length: int) -> None:
        out.write(f"[pasted text, {length} characters]")
        out.flush()

    reader = Reader(fd, pasted)
    if os.environ.get("STANDIN_LOGIN") == "1":
        out.write("Sign in to continue\r\nPress Enter to open the browser\r\n")
        out.flush()
        reader.message()
    history = len(agent.transcript.read_text().splitlines()) if agent.transcript.exists() else 0
    agent.hook("SessionStart", source, source=source)
    out.write("\x1b[?2004h")  # bracketed paste on
    out.write(f"standin {session_id} ({'resumed, ' + str(history) + ' messages' if history else 'new'})\r\n")
    while True:
        out.write("> ")
        out.flush()
        try:
            text = reader.message()
        except EOFError:
            return 0
        agent.hook("UserPromptSubmit")
        agent.received(text)
        agent.remember("user", text)
        out.write(f"\r\nworking on {len(text)} characters\r\n")
        out.flush()
        if text.strip() == "/ask":
            agent.hook("Notification", "permission_prompt", notification_type="permission_prompt")
            out.write("Allow this action? (y/n)\r\n")
            out.flush()
            while reader.message().strip() != "y":
                pass
        time.sleep(float(os.environ.get("STANDIN_WORK_S", "0.2")))
        agent.remember("assistant", f"done with {len(text)} characters")
        out.write(f"done with {len(text)} characters\r\n")
        agent.hook("Stop")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
