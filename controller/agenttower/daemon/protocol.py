"""The control socket: JSON lines over a Unix socket in the state dir (0600, dir 0700).

One request per connection, one response line. The server checks the peer's uid with
SO_PEERCRED, so only the user who runs the controller can drive it. stdlib only: the
protocol is four lines of framing, not worth a dependency.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from agenttower.model.errors import AgentTowerError, ErrorCode

MAX_LINE = 64 * 1024 * 1024
OBSERVATION = "observation"  # a read: the controller answers from memory, between or during passes


class ControllerUnavailable(Exception):
    """No controller answers on the socket: the caller reconciles in-process."""


class NoAnswer(Exception):
    """The controller took the request but did not answer in time (a pass is stuck)."""


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def read_line(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_LINE:
            break
    return b"".join(chunks)


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def call(path: Path, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Send `request` to the controller and wait for its answer; errors come back raised."""
    if not path.exists():
        raise ControllerUnavailable(str(path))
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(5.0)
        try:
            conn.connect(str(path))
        except OSError as exc:
            raise ControllerUnavailable(str(exc)) from None
        conn.settimeout(timeout)
        try:
            send(conn, request)
            line = read_line(conn)
        except TimeoutError:
            raise NoAnswer(f"no answer within {timeout:.3g}s") from None
    finally:
        conn.close()
    if not line:
        raise AgentTowerError(ErrorCode.INTERNAL_ERROR, "the controller closed the connection")
    response = json.loads(line)
    if "error" in response:
        wire = response["error"]
        raise AgentTowerError(ErrorCode(wire["code"]), wire["message"], wire.get("details") or {})
    return dict(response["result"])


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    server.listen(16)
    return server
