"""A missing database is refused, not replaced, while tmux still runs its panes.

Without its database a state dir gets a new instance id, so every pane the old one
started becomes foreign: never adopted, never removed, and its session names block the
layouts from being created again. That is almost always an accident (a deleted or
truncated file, a restored state dir, a wrong AGENTTOWER_STATE_DIR), so a writer that
would create a fresh database first looks at the tmux servers it can see, and stops
when panes there carry an owner id. Starting over on purpose is one explicit,
one-time opt-in (AGENTTOWER_FRESH_STATE=1), like a `--force` flag: once the new
database exists, the check no longer applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.resolved import Target
from agenttower.paths import Paths
from agenttower.runtime.observe import Listing
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from agenttower.settings import Settings
from agenttower.store.db import present
from agenttower.store.faults import Fault, StoredFile

from . import desired_dir, selection

OPT_IN = "AGENTTOWER_FRESH_STATE"


@dataclass(frozen=True)
class OwnedPanes:
    """Panes some agenttower instance marked, per target key, and their owner ids."""

    by_target: dict[str, int]
    owners: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.by_target.values())


def visible_targets(paths: Paths, host: str | None = None) -> dict[str, Target]:
    """The host servers the desired dir names (there are no records to name more); a
    server no layout uses is never asked. Containers and ssh hosts are left to `doctor`:
    they may be shared by other installations, and each would cost an exec or a round trip."""
    from agenttower.model.legacy import load_legacy

    legacy = load_legacy(paths.legacy_templates_dir, paths.legacy_profiles_dir)
    desired, _ = desired_dir.load_lenient(paths.desired_dir, legacy, desired_dir.DirCache())
    desired = selection.select(desired, host)  # this host's layouts run here
    targets: dict[str, Target] = {}
    for layout in desired.layouts.values():
        if layout.target.local:
            targets.setdefault(layout.target.key, layout.target)
    return targets


def list_targets(targets: Mapping[str, Target], settings: Settings) -> dict[str, Listing]:
    return {
        key: Tmux(ExecTarget(target, settings.tmux.binary), timeout=settings.tmux.read_timeout).list_panes()
        for key, target in sorted(targets.items())
    }


def owned_in(listings: Mapping[str, Listing], but: str = "") -> OwnedPanes:
    """The panes of these listings that an agenttower instance other than `but` marked."""
    counts: dict[str, int] = {}
    owners: set[str] = set()
    for key, listing in sorted(listings.items()):
        marked = [pane.owner for pane in listing.panes if pane.owner and pane.owner != but]
        if marked:
            counts[key] = len(marked)
            owners.update(marked)
    return OwnedPanes(counts, tuple(sorted(owners)))


def refuse_if_orphaning(paths: Paths, settings: Settings) -> dict[str, Listing]:
    """Raise before a writer creates a fresh database next to panes an older one owns.
    Returns the listings it made, for the pass to use instead of listing again."""
    if settings.verbs.fresh_state or present(paths.database):
        return {}
    listings = list_targets(visible_targets(paths, settings.loop.target_host), settings)
    found = owned_in(listings)
    if found.total:
        raise missing_database(paths, found)
    return listings


def describe_missing(paths: Paths, found: OwnedPanes) -> tuple[str, str]:
    """(what is wrong, what to do), for the refusal and for `doctor`."""
    where = ", ".join(f"{n} on {key}" for key, n in sorted(found.by_target.items()))
    problem = (
        f"the database {paths.database} is missing (or empty), but tmux still runs panes that "
        f"agenttower instance {', '.join(found.owners)} created ({where})"
    )
    fix = (
        "restore the database from a backup and retry; or, to start over and leave those panes "
        f"alone as foreign panes, run the command again with {OPT_IN}=1 (kill their tmux "
        "sessions first if the same layouts should be created again)"
    )
    return problem, fix


def missing_database(paths: Paths, found: OwnedPanes) -> AgentTowerError:
    problem, fix = describe_missing(paths, found)
    message = f"{problem}: a new database would not know them. {fix[0].upper()}{fix[1:]}"
    details = {
        "path": str(paths.database),
        "reason": str(Fault.DATABASE_MISSING),
        "file": str(StoredFile.DATABASE),
        "owners": list(found.owners),
        "panes": dict(found.by_target),
    }
    return AgentTowerError(ErrorCode.INTERNAL_ERROR, message, details)
