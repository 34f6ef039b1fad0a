"""Resolution: from validated manifests to concrete desired layouts.

Looks up templates and launch profiles (desired dir, then the legacy override dirs,
then the built-ins), expands `{ordinal}` labels and checks the cross-object rules of
FEAT-013 (labels, session names, profile names) before anything touches tmux.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .agents import Activity, ScreenRule
from .builtins import BUILTIN_PROFILES, BUILTIN_TEMPLATES, SHELL_PROFILE
from .durations import parse_duration
from .errors import AgentTowerError, ErrorCode, SourceLocation, excerpt, validation_failed
from .identifiers import BRANCH_RE, NAME_RE, ONLY_DOTS_RE, ONLY_DOTS_REASON, is_name, what_rule
from .legacy import LegacyCatalog
from .manifests import Manifest, check_unique
from .resolved import DesiredLayout, DesiredPane, Launch, Probe, Target, Worktree, spec_hash
from .resources import (
    LaunchProfile,
    LaunchProfileSpec,
    Layout,
    Template,
    TemplatePane,
    TemplateSpec,
    Workspace,
)


@dataclass(frozen=True)
class Catalog:
    templates: Mapping[str, TemplateSpec]
    profiles: Mapping[str, LaunchProfileSpec | None]  # None is the built-in shell

    def known_templates(self) -> list[str]:
        return sorted(self.templates)

    def known_profiles(self) -> list[str]:
        return sorted(self.profiles)


@dataclass(frozen=True)
class Desired:
    layouts: Mapping[str, DesiredLayout]
    catalog: Catalog
    manifests: tuple[Manifest, ...]
    warnings: tuple[str, ...] = ()
    # layouts of the desired dir this reconciler does not take on (another host's, by
    # its target-host selection): their records are left as they are, never pruned
    outside: frozenset[str] = frozenset()


def build_catalog(manifests: Sequence[Manifest], legacy: LegacyCatalog) -> Catalog:
    templates: dict[str, TemplateSpec] = {**BUILTIN_TEMPLATES, **legacy.templates}
    profiles: dict[str, LaunchProfileSpec | None] = {
        SHELL_PROFILE: None,
        **BUILTIN_PROFILES,
        **legacy.profiles,
    }
    for m in manifests:
        if isinstance(m.resource, Template):
            templates[m.name] = m.resource.spec
        elif isinstance(m.resource, LaunchProfile):
            profiles[m.name] = m.resource.spec
    return Catalog(templates, profiles)


def resolve(manifests: Sequence[Manifest], legacy: LegacyCatalog | None = None) -> Desired:
    """Validate the whole set together; the first broken rule raises with file:line."""
    legacy = legacy or LegacyCatalog()
    check_unique(manifests)
    catalog = build_catalog(manifests, legacy)
    for m in manifests:
        if isinstance(m.resource, Template):
            _resolve_template_panes(m, m.resource.spec.panes, catalog, {}, ("spec", "panes"))
    layouts = {m.name: resolve_layout(m, catalog) for m in manifests if isinstance(m.resource, Layout)}
    _check_sessions(layouts, {m.name: m for m in manifests if m.kind == "Layout"})
    return Desired(layouts, catalog, tuple(manifests), legacy.warnings)


def resolve_layout(manifest: Manifest, catalog: Catalog) -> DesiredLayout:
    layout = manifest.resource
    assert isinstance(layout, Layout)
    spec = layout.spec
    session = spec.session or layout.metadata.name
    if spec.session is None and "." in session:
        raise validation_failed(
            "spec.session",
            f"the default session name {session!r} holds '.', which tmux rewrites; set spec.session",
            manifest.where("metadata", "name"),
        )
    if spec.template is not None:
        template = catalog.templates.get(spec.template)
        if template is None:
            raise AgentTowerError(
                ErrorCode.TEMPLATE_NOT_FOUND,
                f"template {spec.template!r} not found (known: {', '.join(catalog.known_templates())})",
                {"template_name": spec.template, "known_templates": catalog.known_templates()},
                manifest.where("spec", "template"),
            )
        panes_src, where = template.panes, ("spec", "template")
    else:
        assert spec.panes is not None
        panes_src, where = spec.panes, ("spec", "panes")
    target = _target(layout)
    resolved = _resolve_template_panes(
        manifest, panes_src, catalog, spec.launch, where, target, (layout.metadata.name, spec.workspace)
    )
    return DesiredLayout(
        name=layout.metadata.name,
        session=session,
        target=target,
        panes=tuple(resolved),
        tmux_layout=spec.tmux_layout,
        restart_policy=spec.restart_policy,
        update_strategy=spec.update_strategy,
        suspend=spec.suspend,
        notify=tuple(spec.notify or ()),
        annotations=tuple(sorted(layout.metadata.annotations.items())),
        source=manifest.where("metadata", "name"),
        spec=layout.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


def _target(layout: Layout) -> Target:
    t = layout.spec.target
    mount = t.log_mount
    return Target(
        container=t.container,
        host=t.host,
        port=t.port,
        user=t.user,
        socket=t.socket,
        socket_path=t.socket_path,
        log_container_path=mount.container_path if mount else None,
        log_host_path=mount.host_path if mount else None,
    )


def _resolve_template_panes(
    manifest: Manifest,
    panes: Sequence[TemplatePane],
    catalog: Catalog,
    overrides: Mapping[str, str],
    where: tuple[str, ...],
    target: Target | None = None,
    owner: tuple[str, Workspace | None] | None = None,
) -> list[DesiredPane]:
    """`owner`: the layout's name and default workspace (None: a Template checked alone)."""
    target = target or Target()
    counts: dict[str, int] = {}
    resolved: list[DesiredPane] = []
    seen: set[str] = set()
    for index, pane in enumerate(panes):
        counts[pane.label_pattern] = counts.get(pane.label_pattern, 0) + 1
        label = pane.label_pattern.replace("{ordinal}", str(counts[pane.label_pattern]))
        at = manifest.where(*where, index) if where[-1] == "panes" else manifest.where(*where)
        if not is_name(label):
            rule = ONLY_DOTS_REASON if ONLY_DOTS_RE.fullmatch(label) else f"must be {what_rule(NAME_RE)}"
            raise validation_failed("label", f"{excerpt(label)} {rule}", at)
        if label in seen:
            raise AgentTowerError(
                ErrorCode.PANE_LABEL_CONFLICT,
                f"two panes resolve to the label {label!r}",
                {"container_id": target.key, "label": label},
                at,
            )
        seen.add(label)
        profile_name = overrides.get(f"{pane.role}:{label}") or pane.launch or SHELL_PROFILE
        key = f"{pane.role}:{label}"
        launch = _launch(
            manifest, catalog, profile_name, manifest.where("spec", "launch", key) if key in overrides else at
        )
        first = getattr(pane, "initial_input", None)  # legacy template panes have none
        workspace = getattr(pane, "workspace", None) or (owner[1] if owner else None)
        if owner is not None and workspace is not None:
            launch = _in_worktree(launch, workspace, owner[0], label, at)
        resolved.append(
            DesiredPane(label, pane.role, pane.capability, launch, spec_hash(launch, target), first)
        )
    _check_overrides(manifest, overrides, {f"{p.role}:{p.label}" for p in resolved})
    return resolved


def _in_worktree(launch: Launch, workspace: Workspace, layout: str, label: str, at: SourceLocation) -> Launch:
    """The pane's launch run in its own worktree (which replaces the profile's workingDir)."""
    spec = workspace.worktree
    branch = spec.branch.replace("{layout}", layout).replace("{label}", label)
    if not BRANCH_RE.fullmatch(branch):
        reason = f"{excerpt(branch)} is not {what_rule(BRANCH_RE)}"
        raise validation_failed("workspace.worktree.branch", reason, at)
    tree = Worktree.at(spec.repo, branch)
    return replace(launch, worktree=tree, working_dir=tree.path)


def _launch(manifest: Manifest, catalog: Catalog, name: str, at: SourceLocation) -> Launch:
    if name not in catalog.profiles:
        raise AgentTowerError(
            ErrorCode.LAUNCH_COMMAND_NOT_FOUND,
            f"launch profile {name!r} not found (known: {', '.join(catalog.known_profiles())})",
            {"profile_name": name, "known_profiles": catalog.known_profiles()},
            at,
        )
    profile = catalog.profiles[name]
    if profile is None:
        return Launch(profile=name)
    return launch_of(name, profile)


def launch_of(name: str, profile: LaunchProfileSpec) -> Launch:
    probe = profile.readiness
    return Launch(
        profile=name,
        command=tuple(profile.command),
        env=tuple(sorted(profile.env.items())),
        working_dir=profile.working_dir,
        agent=profile.agent,
        readiness=Probe(probe.pattern, parse_duration(probe.timeout)) if probe else None,
        screen=tuple(ScreenRule(Activity(r.activity), r.pattern, r.reason) for r in profile.screen),
        resume=tuple(profile.resume) if profile.resume is not None else None,
    )


def _check_overrides(manifest: Manifest, overrides: Mapping[str, str], slots: set[str]) -> None:
    for key in overrides:
        role, _, label = key.partition(":")
        at = manifest.where("spec", "launch", key)
        if not (is_name(role) and is_name(label)):
            raise validation_failed(f"spec.launch.{key}", f"keys are 'role:label' names ({excerpt(key)})", at)
        if key not in slots:
            raise validation_failed(
                f"spec.launch.{key}", f"no pane {excerpt(key)} in this layout ({sorted(slots)})", at
            )


def _check_sessions(layouts: Mapping[str, DesiredLayout], by_name: Mapping[str, Manifest]) -> None:
    owner: dict[tuple[str, str], str] = {}
    for name, layout in layouts.items():
        key = (layout.target.key, layout.session)
        other = owner.setdefault(key, name)
        if other != name:
            raise AgentTowerError(
                ErrorCode.SESSION_NAME_CONFLICT,
                f"layouts {other!r} and {name!r} both use tmux session {layout.session!r}",
                {"container_id": layout.target.key, "tmux_session_name": layout.session},
                by_name[name].where("spec", "session"),
            )


@dataclass(frozen=True)
class Problem:
    """A file or object the controller could not use this pass, and the layouts it holds."""

    file: str
    error: AgentTowerError
    layouts: tuple[str, ...] = ()


def resolve_lenient(
    parsed: Sequence[tuple[str, Sequence[Manifest] | AgentTowerError]], legacy: LegacyCatalog | None = None
) -> tuple[Desired, tuple[Problem, ...]]:
    """Like `resolve`, but one bad file or object never stops the others: each failure is
    returned as a Problem, so the controller can hold those layouts at their last good spec."""
    legacy = legacy or LegacyCatalog()
    problems: list[Problem] = []
    kept: list[Manifest] = []
    first: dict[tuple[str, str], Manifest] = {}
    for file, result in parsed:
        if isinstance(result, AgentTowerError):
            problems.append(Problem(file, result))
            continue
        for m in result:
            if m.key in first:
                try:
                    check_unique([first[m.key], m])
                except AgentTowerError as exc:
                    problems.append(Problem(file, exc, (m.name,) if m.kind == "Layout" else ()))
                continue
            first[m.key] = m
            kept.append(m)
    catalog = build_catalog(kept, legacy)
    layouts: dict[str, DesiredLayout] = {}
    owners: dict[tuple[str, str], str] = {}
    for m in kept:
        if not isinstance(m.resource, Layout):
            continue
        try:
            layout = resolve_layout(m, catalog)
            _check_sessions({**{n: layouts[n] for n in owners.values()}, m.name: layout}, {m.name: m})
        except AgentTowerError as exc:
            problems.append(Problem(m.document.file, exc, (m.name,)))
            continue
        owners[(layout.target.key, layout.session)] = m.name
        layouts[m.name] = layout
    return Desired(layouts, catalog, tuple(kept), legacy.warnings), tuple(problems)
