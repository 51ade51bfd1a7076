"""KubeSchedulerConfiguration (``kubescheduler.config.k8s.io/v1``) files to ``Profile``s.

After ``pkg/scheduler/apis/config/v1/defaults.go`` (``mergePlugins``: a point's ``enabled``
list re-configures or appends to the defaults, ``disabled`` removes them, ``"*"`` removes
all) and ``framework/runtime/framework.go`` (``expandMultiPointPlugins``: plugins named at a
specific point first, then MultiPoint ones, then the rest). PyYAML is imported only when a
file is read. Every mistake raises ``ConfigError`` with one line naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from servers.scheduler.framework.profile import (
    DEFAULT_MULTIPOINT,
    FILTERS,
    OTHER,
    PLUGINS,
    SCORES,
    Profile,
)

Obj = dict[str, Any]
API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
POINTS = ("preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
          "reserve", "permit", "preBind", "bind", "postBind", "multiPoint")
TOP_FIELDS = {"apiVersion", "kind", "parallelism", "leaderElection", "clientConnection",
              "healthzBindAddress", "metricsBindAddress", "enableProfiling",
              "enableContentionProfiling", "percentageOfNodesToScore",
              "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles", "extenders",
              "delayCacheUntilActive"}
PROFILE_FIELDS = {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"}
_POINT_PLUGINS = {"filter": FILTERS, "score": SCORES, "postFilter": ("DefaultPreemption",)}


class ConfigError(ValueError):
    """A KubeSchedulerConfiguration that cannot be used (one line, naming the field)."""


def _fail(field: str, problem: str) -> ConfigError:
    return ConfigError(f"{field}: {problem}")


@dataclass
class Configuration:
    """A whole KubeSchedulerConfiguration: the profiles and what the server itself reads
    (``leaderElection`` and ``clientConnection`` as written, empty when absent)."""

    profiles: list[Profile]
    leader_election: Obj = field(default_factory=dict)
    client_connection: Obj = field(default_factory=dict)
    parallelism: int = 16


def load_config(path: str) -> list[Profile]:
    """Read a configuration file; one ``Profile`` per entry of ``profiles``."""
    return load_configuration(path).profiles


def load_configuration(path: str) -> Configuration:
    """Read a configuration file (``--config``)."""
    import yaml  # only servers that read a --config file pay for PyYAML

    try:
        with open(path, encoding="utf-8") as stream:
            doc = yaml.safe_load(stream)
    except OSError as exc:
        msg = f"cannot read scheduler configuration {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        msg = f"scheduler configuration {path}: {first}"
        raise ConfigError(msg) from None
    try:
        return parse_configuration(doc)
    except ConfigError as exc:
        msg = f"scheduler configuration {path}: {exc}"
        raise ConfigError(msg) from None


def parse_config(doc: object) -> list[Profile]:
    """The profiles of a decoded KubeSchedulerConfiguration document."""
    return parse_configuration(doc).profiles


def parse_configuration(doc: object) -> Configuration:
    """A decoded KubeSchedulerConfiguration document, checked."""
    if not isinstance(doc, dict):
        raise _fail("(root)", "expected a KubeSchedulerConfiguration object")
    if doc.get("apiVersion") != API_VERSION:
        raise _fail("apiVersion", f"unsupported {doc.get('apiVersion')!r} (want {API_VERSION})")
    if doc.get("kind") != KIND:
        raise _fail("kind", f"unsupported {doc.get('kind')!r} (want {KIND})")
    _known(doc, TOP_FIELDS, "")
    percentage = _percentage(doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    initial = _number(doc.get("podInitialBackoffSeconds", 1), "podInitialBackoffSeconds")
    maximum = _number(doc.get("podMaxBackoffSeconds", 10), "podMaxBackoffSeconds")
    if maximum < initial:
        raise _fail("podMaxBackoffSeconds", "must be greater than or equal to "
                    "podInitialBackoffSeconds")
    if doc.get("extenders"):
        raise _fail("extenders", "scheduler extenders are not supported by km")
    raw_profiles = doc.get("profiles") or [{}]
    if not isinstance(raw_profiles, list):
        raise _fail("profiles", "expected a list")
    profiles = [_profile(raw, f"profiles[{i}]", percentage or 0)
                for i, raw in enumerate(raw_profiles)]
    names = [p.scheduler_name for p in profiles]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _fail(f"profiles[{i}].schedulerName", f"duplicate value {name!r}")
    profiles = [replace(p, pod_initial_backoff_seconds=initial,
                        pod_max_backoff_seconds=maximum) for p in profiles]
    parallelism = doc.get("parallelism", 16)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        raise _fail("parallelism", f"should be an integer greater than 0, got {parallelism!r}")
    return Configuration(profiles, _object(doc, "leaderElection"),
                         _object(doc, "clientConnection"), parallelism)


def _object(doc: Obj, name: str) -> Obj:
    value = doc.get(name) or {}
    if not isinstance(value, dict):
        raise _fail(name, "expected an object")
    return value


def _known(obj: Obj, fields: set[str], at: str) -> None:
    for key in obj:
        if key not in fields:
            raise _fail(f"{at}{key}", "unknown field")


def _number(raw: object, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        raise _fail(field, f"must be a positive number, got {raw!r}")
    return float(raw)


def _percentage(raw: object, field: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100:
        raise _fail(field, f"not in valid range [0-100]: {raw!r}")
    return raw


def _profile(raw: object, at: str, global_percentage: int) -> Profile:
    if not isinstance(raw, dict):
        raise _fail(at, "expected an object")
    _known(raw, PROFILE_FIELDS, f"{at}.")
    name = raw.get("schedulerName", "default-scheduler")
    if not isinstance(name, str) or not name:
        raise _fail(f"{at}.schedulerName", "required")
    percentage = _percentage(raw.get("percentageOfNodesToScore"),
                             f"{at}.percentageOfNodesToScore")
    profile = _plugins(raw.get("plugins") or {}, f"{at}.plugins")
    profile = replace(profile, scheduler_name=name, percentage_of_nodes_to_score=(
        global_percentage if percentage is None else percentage))
    config = raw.get("pluginConfig") or []
    if not isinstance(config, list):
        raise _fail(f"{at}.pluginConfig", "expected a list")
    for i, entry in enumerate(config):
        profile = _plugin_config(profile, entry, f"{at}.pluginConfig[{i}]")
    return profile


# -- plugins: merge with the defaults, then expand MultiPoint -------------------------------

def _plugin_set(raw: object, at: str) -> tuple[list[tuple[str, int]], list[str]]:
    if not isinstance(raw, dict):
        raise _fail(at, "expected an object with enabled/disabled lists")
    _known(raw, {"enabled", "disabled"}, f"{at}.")
    out: dict[str, list[Any]] = {"enabled": [], "disabled": []}
    for kind in ("enabled", "disabled"):
        items = raw.get(kind) or []
        if not isinstance(items, list):
            raise _fail(f"{at}.{kind}", "expected a list")
        for i, item in enumerate(items):
            where = f"{at}.{kind}[{i}]"
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not (name in PLUGINS or
                                                 (kind == "disabled" and name == "*")):
                raise _fail(f"{where}.name", f"unknown plugin {name!r}")
            weight = item.get("weight", 0) or 0
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise _fail(f"{where}.weight", f"must be a non-negative integer, got {weight!r}")
            out[kind].append((name, weight) if kind == "enabled" else name)
    return out["enabled"], out["disabled"]


def _merge(defaults: list[tuple[str, int]], enabled: list[tuple[str, int]],
           disabled: list[str]) -> list[tuple[str, int]]:
    """``mergePluginSet``: re-configure defaults in place, drop disabled, append the rest."""
    custom = {name: (i, weight) for i, (name, weight) in enumerate(enabled)}
    used: set[int] = set()
    merged = []
    if "*" not in disabled:
        for name, weight in defaults:
            if name in disabled:
                continue
            if name in custom:
                used.add(custom[name][0])
                weight = custom[name][1]
            merged.append((name, weight))
    merged += [p for i, p in enumerate(enabled) if i not in used]
    return merged


def _expand(point: str, multipoint: list[tuple[str, int]], specific: list[tuple[str, int]],
            disabled: list[str]) -> list[tuple[str, int]]:
    """``expandMultiPointPlugins`` for one extension point."""
    implements = _POINT_PLUGINS[point]
    mp_names = {name for name, _ in multipoint}
    specific_names = {name for name, _ in specific}
    overrides = [p for p in specific if p[0] in mp_names]
    from_mp = [] if "*" in disabled else [
        p for p in multipoint
        if p[0] in implements and p[0] not in disabled and p[0] not in specific_names]
    others = [p for p in specific if p[0] not in mp_names]
    return overrides + from_mp + others


def _plugins(raw: object, at: str) -> Profile:
    if not isinstance(raw, dict):
        raise _fail(at, "expected an object")
    for key in raw:
        if key not in POINTS:
            raise _fail(f"{at}.{key}", "unknown extension point")
    sets = {point: _plugin_set(raw.get(point) or {}, f"{at}.{point}") for point in POINTS}
    for point, implements in _POINT_PLUGINS.items():
        for i, (name, _) in enumerate(sets[point][0]):
            if name not in implements:
                raise _fail(f"{at}.{point}.enabled[{i}].name",
                            f"plugin {name!r} does not extend {point} plugin")
    multipoint = _merge(list(DEFAULT_MULTIPOINT), *sets["multiPoint"])
    points = {point: _expand(point, multipoint, *sets[point]) for point in _POINT_PLUGINS}
    return Profile(
        filters=tuple(name for name, _ in points["filter"]),
        scores={name: weight or 1 for name, weight in points["score"]},
        post_filters=tuple(name for name, _ in points["postFilter"]))


# -- pluginConfig ---------------------------------------------------------------------------

def _plugin_config(profile: Profile, entry: object, at: str) -> Profile:
    if not isinstance(entry, dict):
        raise _fail(at, "expected an object with name and args")
    name, args = entry.get("name"), entry.get("args") or {}
    handler = _ARGS.get(name) if isinstance(name, str) else None
    if handler is None:
        raise _fail(f"{at}.name", f"unknown plugin {name!r}"
                    if name not in PLUGINS else f"plugin {name!r} takes no args in km")
    if not isinstance(args, dict):
        raise _fail(f"{at}.args", "expected an object")
    return handler(profile, args, f"{at}.args")


def _resources(raw: object, at: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(at, "expected a non-empty list of {name, weight}")
    out = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        weight = item.get("weight", 1) if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise _fail(f"{at}[{i}].name", "required")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise _fail(f"{at}[{i}].weight", f"must be in the range [1, 100], got {weight!r}")
        out.append((name, weight))
    return tuple(out)


def _fit_args(profile: Profile, args: Obj, at: str) -> Profile:
    _known(args, {"apiVersion", "kind", "ignoredResources", "ignoredResourceGroups",
                  "scoringStrategy"}, f"{at}.")
    strategy = args.get("scoringStrategy") or {}
    if not isinstance(strategy, dict):
        raise _fail(f"{at}.scoringStrategy", "expected an object")
    _known(strategy, {"type", "resources", "requestedToCapacityRatio"}, f"{at}.scoringStrategy.")
    kind = strategy.get("type", "LeastAllocated")
    if kind not in ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"):
        raise _fail(f"{at}.scoringStrategy.type", f"unsupported {kind!r}")
    resources = profile.scoring_resources
    if "resources" in strategy:
        resources = _resources(strategy["resources"], f"{at}.scoringStrategy.resources")
    shape = _shape(strategy.get("requestedToCapacityRatio"), kind,
                   f"{at}.scoringStrategy.requestedToCapacityRatio")
    return replace(profile, scoring_strategy=kind, scoring_resources=resources,
                   scoring_shape=shape,
                   ignored_resources=frozenset(args.get("ignoredResources") or ()),
                   ignored_resource_groups=frozenset(args.get("ignoredResourceGroups") or ()))


def _shape(raw: object, kind: str, at: str) -> tuple[tuple[int, int], ...]:
    if kind != "RequestedToCapacityRatio":
        return ()
    points = (raw or {}).get("shape") if isinstance(raw, dict) else None
    if not isinstance(points, list) or not points:
        raise _fail(f"{at}.shape", "required for RequestedToCapacityRatio")
    out: list[tuple[int, int]] = []
    for i, point in enumerate(points):
        u = point.get("utilization") if isinstance(point, dict) else None
        s = point.get("score") if isinstance(point, dict) else None
        if not (isinstance(u, int) and 0 <= u <= 100 and isinstance(s, int) and 0 <= s <= 10):
            raise _fail(f"{at}.shape[{i}]", "utilization must be 0..100 and score 0..10")
        if out and u <= out[-1][0]:
            raise _fail(f"{at}.shape[{i}].utilization", "values must be sorted increasingly")
        out.append((u, s))
    return tuple(out)


def _balanced_args(profile: Profile, args: Obj, at: str) -> Profile:
    _known(args, {"apiVersion", "kind", "resources"}, f"{at}.")
    if "resources" not in args:
        return profile
    return replace(profile, balanced_resources=_resources(args["resources"], f"{at}.resources"))


def _spread_args(profile: Profile, args: Obj, at: str) -> Profile:
    _known(args, {"apiVersion", "kind", "defaultConstraints", "defaultingType"}, f"{at}.")
    kind = args.get("defaultingType", "System")
    if kind not in ("System", "List"):
        raise _fail(f"{at}.defaultingType", f"unsupported {kind!r}")
    constraints = []
    for i, raw in enumerate(args.get("defaultConstraints") or []):
        where = f"{at}.defaultConstraints[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("topologyKey"), str):
            raise _fail(f"{where}.topologyKey", "required")
        if raw.get("labelSelector") is not None:
            raise _fail(f"{where}.labelSelector", "not allowed in default constraints")
        skew = raw.get("maxSkew")
        if isinstance(skew, bool) or not isinstance(skew, int) or skew < 1:
            raise _fail(f"{where}.maxSkew", f"must be greater than zero, got {skew!r}")
        when = raw.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise _fail(f"{where}.whenUnsatisfiable", f"unsupported {when!r}")
        constraints.append((raw["topologyKey"], skew, when))
    if kind == "System" and constraints:
        raise _fail(f"{at}.defaultConstraints", "must be empty for System defaulting")
    return replace(profile, spread_defaulting=kind,
                   spread_default_constraints=tuple(constraints))


def _interpod_args(profile: Profile, args: Obj, at: str) -> Profile:
    _known(args, {"apiVersion", "kind", "hardPodAffinityWeight",
                  "ignorePreferredTermsOfExistingPods"}, f"{at}.")
    weight = args.get("hardPodAffinityWeight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise _fail(f"{at}.hardPodAffinityWeight", f"not in valid range [0-100]: {weight!r}")
    ignore = args.get("ignorePreferredTermsOfExistingPods", False)
    if not isinstance(ignore, bool):
        raise _fail(f"{at}.ignorePreferredTermsOfExistingPods", f"must be a boolean: {ignore!r}")
    return replace(profile, hard_pod_affinity_weight=weight,
                   ignore_preferred_terms_of_existing_pods=ignore)


def _preemption_args(profile: Profile, args: Obj, at: str) -> Profile:
    _known(args, {"apiVersion", "kind", "minCandidateNodesPercentage",
                  "minCandidateNodesAbsolute"}, f"{at}.")
    percentage = args.get("minCandidateNodesPercentage", 10)
    absolute = args.get("minCandidateNodesAbsolute", 100)
    if not isinstance(percentage, int) or not 0 <= percentage <= 100:
        raise _fail(f"{at}.minCandidateNodesPercentage", f"not in valid range [0, 100]: "
                    f"{percentage!r}")
    if not isinstance(absolute, int) or absolute < 0:
        raise _fail(f"{at}.minCandidateNodesAbsolute", f"must be non-negative: {absolute!r}")
    if percentage == 0 and absolute == 0:
        raise _fail(at, "minCandidateNodesPercentage and minCandidateNodesAbsolute "
                    "cannot both be zero")
    return replace(profile, min_candidate_percentage=percentage,
                   min_candidate_absolute=absolute)


_ARGS: dict[str, Callable[[Profile, Obj, str], Profile]] = {
    "NodeResourcesFit": _fit_args,
    "NodeResourcesBalancedAllocation": _balanced_args,
    "PodTopologySpread": _spread_args,
    "InterPodAffinity": _interpod_args,
    "DefaultPreemption": _preemption_args,
}

__all__ = ["API_VERSION", "OTHER", "ConfigError", "Configuration", "load_config",
           "load_configuration", "parse_config", "parse_configuration"]
