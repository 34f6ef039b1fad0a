"""Running tmux for one target: one listing per pass, batches on stdin.

Written by hand because libtmux runs one process per command and cannot send a
whole layout as one `source-file -` batch, which is what keeps creation at a
constant number of invocations and keeps env values out of `ps`. For a container
each invocation is one `docker exec -i`, for an ssh host (or a container there) one
multiplexed `ssh`, and the batch travels on its stdin.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_chain, wait_fixed

from . import ssh
from .calls import Calls, OutOfTime
from .limits import raise_open_files
from .observe import FORMAT, Listing, ListingStatus, ObservedPane, classify_failure, parse_listing, ssh_failed
from .target import ExecTarget

STAGE_TIMEOUT_S = 30.0
ATTEMPTS = stop_after_attempt(3)


_RAISED: list[int] = []


def _raise_open_files_once() -> None:
    """A server this call starts inherits our limits (runtime/limits.py)."""
    if not _RAISED:
        _RAISED.append(raise_open_files())


class TransientError(Exception):
    """A tmux call that timed out or could not connect for a reason that may pass;
    `listing`: what that answer was, when it was one (why a docker or ssh target failed)."""

    def __init__(self, message: str, listing: Listing | None = None) -> None:
        super().__init__(message)
        self.listing = listing


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Tmux:
    target: ExecTarget
    timeout: float = STAGE_TIMEOUT_S
    invocations: int = field(default=0)
    calls: Calls = field(default_factory=Calls)  # shared by a session: its deadline and its stop
    # the last listing's panes by line: a pane whose line did not change is not parsed again
    _listed: dict[str, ObservedPane] = field(default_factory=dict, repr=False, compare=False)

    def run(self, args: Sequence[str], stdin: str | None = None) -> RunResult:
        program = self.target.program
        if self.target.local:
            _raise_open_files_once()
        try:
            timeout = self.calls.timeout(self.timeout)
        except OutOfTime:
            raise TransientError(f"{program} was not called: no time left before the deadline") from None
        self.invocations += 1
        try:
            # no batch: stdin is /dev/null (a `docker exec -i` would otherwise hold the
            # terminal); output is UTF-8 whatever our locale says (what `tmux -u` prints)
            proc = self.calls.run(
                self.target.argv(*args), stdin, timeout, self.target.environment(), self.target.key
            )
        except subprocess.TimeoutExpired as exc:
            raise TransientError(f"{program} timed out after {round(timeout, 1):g}s") from exc
        except OSError as exc:
            raise TransientError(f"cannot run {program}: {exc.strerror}") from exc
        return RunResult(proc.returncode, proc.stdout, proc.stderr)

    def list_panes(self, retry: bool = True) -> Listing:
        """One invocation (plus up to two retries after 1 s and 2 s if it timed out).
        `retry=False` is for readers, who show a target as stale rather than wait 3 s."""
        try:
            if not retry:  # a reader: exactly one read-only call
                return self._list_once()
            listing = self._list_with_retry()
            return self._reaped(listing) if any(p.unreaped for p in listing.panes) else listing
        except TransientError as exc:
            if exc.listing is not None:
                return exc.listing
            return Listing(self.target.key, ListingStatus.INDETERMINATE, (), str(exc))

    def _reaped(self, listing: Listing) -> Listing:
        """A dead pane without its exit status is a zombie tmux missed the SIGCHLD of: one
        child of the server that exits (`run-shell true`, which returns once it is reaped)
        makes the server reap every zombie in the same loop; then list again. Costs two
        invocations, only when a pane is in that state."""
        self.run(["run-shell", "true"])
        again = self._list_once()
        return again if again.known else listing

    def _list_with_retry(self) -> Listing:
        """Retries end at the session's deadline, and their waits end on stop."""
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=lambda state: ATTEMPTS(state) or self.calls.expired(),
            wait=wait_chain(wait_fixed(1), wait_fixed(2)),
            sleep=self.calls.sleep,
            reraise=True,
        )
        return retrying(self._list_once)

    def _list_once(self) -> Listing:
        result = self.run(["list-panes", "-a", "-F", FORMAT])
        if result.returncode == 0:
            return parse_listing(self.target.key, result.stdout, self._listed)
        target = self.target
        failed = ssh.failure(result.returncode, result.stderr, target.is_container) if target.is_ssh else None
        if failed is not None:
            listing = ssh_failed(self.target.key, failed, result.stderr)
        else:
            listing = classify_failure(self.target.key, result.stderr, self.target.is_container)
        if listing.transient:  # e.g. the docker daemon does not answer: retried like a timeout
            raise TransientError(listing.error or "transient failure", listing)
        return listing

    def source(self, lines: Sequence[str], start_server: bool = False) -> RunResult:
        """Run a batch, one independent line per pane; a failing line skips only itself."""
        args = ["start-server", ";", "source-file", "-"] if start_server else ["source-file", "-"]
        return self.run(args, stdin="".join(line + "\n" for line in lines))
