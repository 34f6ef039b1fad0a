"""Which layouts of the desired dir a reconciler takes on: all of them, or, with a
target-host selection (`controller run --target-host NAME`, AGENTTOWER_TARGET_HOST),
the ones that run on NAME.

One shared desired dir (a git checkout) then serves one controller per machine (the
Flux model, docs/fleet.md). The controller that *is* NAME takes the layouts whose
`spec.target.host` is NAME and runs them on this machine, as if the host were not
named (no ssh hop to itself: host, port and login are dropped; a container there is a
container of this machine's docker), and the layouts that name no host, which run
wherever their controller runs. Every other layout is *outside*: it is never created
here, and a record of one (a layout that moved to another host since this controller
made it) is left exactly as it is, panes and all: not pruned, not restarted, not
marked (plan.py). A layout whose manifest left the dir is pruned as without a
selection: that is the one way a shared dir says "no host runs it".
"""

from __future__ import annotations

from dataclasses import replace

from agenttower.model.desired import Desired
from agenttower.model.resolved import DesiredLayout, Target, spec_hash


def select(desired: Desired, host: str | None) -> Desired:
    """`desired` as the reconciler that is `host` sees it (unchanged without one). Applying
    it twice changes nothing more: what is outside stays outside."""
    if host is None:
        return desired
    layouts: dict[str, DesiredLayout] = {}
    outside = set(desired.outside)
    for name, layout in desired.layouts.items():
        where = layout.target.host
        if where is None:
            layouts[name] = layout
        elif where == host:
            layouts[name] = here(layout)
        else:
            outside.add(name)
    return replace(desired, layouts=layouts, outside=frozenset(outside))


def here(layout: DesiredLayout) -> DesiredLayout:
    """A layout of this host, as a target of this machine: its key, and so its panes' spec
    hashes, are those of the same layout written without `host`. Made once per layout
    object (kept on it, as its fingerprint is): the controller's file cache hands back
    the same objects while the manifests are unchanged, so a quiet pass rewrites and
    hashes nothing again."""
    cached = layout.__dict__.get("_here")
    if isinstance(cached, DesiredLayout):
        return cached
    t = layout.target
    target = Target(
        container=t.container,
        user=t.user if t.container is not None else None,  # a login is not who a local tmux runs as
        socket=t.socket,
        socket_path=t.socket_path,
    )
    panes = tuple(replace(p, spec_hash=spec_hash(p.launch, target)) for p in layout.panes)
    local = replace(layout, target=target, panes=panes)
    object.__setattr__(layout, "_here", local)
    return local
