"""kubectl's `TYPE/NAME` references: what `-o name` prints is accepted back as input.

`pane/team/s1`, `layout/team` and `agent/agt_...` go wherever a verb takes a kind and a
name (`get pane/team/s1`, `describe layout/team`, `delete layout/team`, `restart
pane/team/s1`), and the plain `KIND NAME` form is unchanged.
"""

from __future__ import annotations

from agenttower.model.errors import validation_failed

# every spelling of a kind a verb accepts -> the plural `get` lists it under
KINDS = {
    "layout": "layouts",
    "layouts": "layouts",
    "lo": "layouts",
    "pane": "panes",
    "panes": "panes",
    "agent": "agents",
    "agents": "agents",
    "template": "templates",
    "templates": "templates",
    "tpl": "templates",
    "launchprofile": "launchprofiles",
    "launchprofiles": "launchprofiles",
    "lp": "launchprofiles",
    "profile": "launchprofiles",
    "profiles": "launchprofiles",
}

# what `-o name` prints before the slash, per plural
NAME_PREFIX = {
    "layouts": "layout",
    "panes": "pane",
    "agents": "agent",
    "templates": "template",
    "launchprofiles": "launchprofile",
}


def plural(kind: str, allowed: tuple[str, ...] = tuple(NAME_PREFIX)) -> str:
    what = KINDS.get(kind.lower())
    if what is None or what not in allowed:
        raise validation_failed("kind", f"unknown kind {kind!r} ({', '.join(allowed)})")
    return what


def split(kind: str | None, names: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """(`pane/team/s1`,) -> (`pane`, (`team/s1`,)); `layout a layout/b` -> (`layout`, (a, b)).

    A name is itself `layout/label` for panes, so a `TYPE/` prefix is only taken off a
    pane name that has two slashes (`pane/team/s1`), never off `team/s1`."""
    if kind is not None and "/" in kind:
        head, _, rest = kind.partition("/")
        if head.lower() in KINDS:
            kind, names = head, (rest, *names)
    if kind is None:
        return None, names
    own = KINDS.get(kind.lower())
    return kind, tuple(strip(own, name) for name in names)


def strip(own: str | None, name: str) -> str:
    head, sep, rest = name.partition("/")
    if not sep or head.lower() not in KINDS or KINDS[head.lower()] != own:
        return name
    if own == "panes" and "/" not in rest:
        return name  # `team/s1`: the layout is called like a kind, the name is whole
    return rest


def one(kind: str, name: str | None, verb: str) -> tuple[str, str]:
    """A verb that takes exactly one `KIND NAME` or `KIND/NAME`."""
    split_kind, names = split(kind, (name,) if name else ())
    if split_kind is None or len(names) != 1:
        raise validation_failed("name", f"{verb} takes KIND NAME or KIND/NAME (as -o name prints it)")
    return split_kind, names[0]
