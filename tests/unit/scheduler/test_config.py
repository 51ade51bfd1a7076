"""KubeSchedulerConfiguration v1: defaults, plugin merging, pluginConfig, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers.scheduler.framework import ConfigError, default_profile, load_config, parse_config

HEAD = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def config(**fields: object) -> dict:
    return {**HEAD, **fields}


def test_empty_configuration_is_the_default_profile() -> None:
    (profile,) = parse_config(config())
    assert profile == default_profile()
    assert profile.scores["TaintToleration"] == 3
    assert profile.filters[:3] == ("NodeUnschedulable", "NodeName", "TaintToleration")
    assert profile.preemption


def test_globals_and_per_profile_percentage() -> None:
    profiles = parse_config(config(
        percentageOfNodesToScore=30, podInitialBackoffSeconds=2, podMaxBackoffSeconds=20,
        profiles=[{"schedulerName": "a"}, {"schedulerName": "b", "percentageOfNodesToScore": 5}]))
    assert [(p.scheduler_name, p.percentage_of_nodes_to_score) for p in profiles] == [
        ("a", 30), ("b", 5)]
    assert (profiles[1].pod_initial_backoff_seconds, profiles[1].pod_max_backoff_seconds) == (
        2.0, 20.0)


def test_disabled_plugins_and_new_weights() -> None:
    (profile,) = parse_config(config(profiles=[{"plugins": {
        "filter": {"disabled": [{"name": "TaintToleration"}]},
        "score": {"enabled": [{"name": "NodeResourcesFit", "weight": 5}],
                  "disabled": [{"name": "ImageLocality"}]},
        "postFilter": {"disabled": [{"name": "*"}]}}}]))
    assert "TaintToleration" not in profile.filters
    assert profile.scores["NodeResourcesFit"] == 5
    assert profile.scores["TaintToleration"] == 3
    assert "ImageLocality" not in profile.scores
    assert not profile.preemption


def test_star_clears_an_extension_point() -> None:
    (profile,) = parse_config(config(profiles=[{"plugins": {"score": {
        "disabled": [{"name": "*"}], "enabled": [{"name": "NodeResourcesFit", "weight": 2}]}}}]))
    assert profile.scores == {"NodeResourcesFit": 2}


def test_multipoint_reconfigures_defaults_in_place() -> None:
    (profile,) = parse_config(config(profiles=[{"plugins": {"multiPoint": {
        "enabled": [{"name": "TaintToleration", "weight": 7}],
        "disabled": [{"name": "NodePorts"}]}}}]))
    assert profile.scores["TaintToleration"] == 7
    assert "NodePorts" not in profile.filters
    assert profile.filters.index("TaintToleration") == 2  # order kept


def test_scoring_strategy_args() -> None:
    (profile,) = parse_config(config(profiles=[{"pluginConfig": [{
        "name": "NodeResourcesFit", "args": {"scoringStrategy": {
            "type": "MostAllocated",
            "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}]}}}]}]))
    assert profile.scoring_strategy == "MostAllocated"
    assert profile.scoring_resources == (("cpu", 2), ("memory", 1))


def test_other_plugin_args() -> None:
    (profile,) = parse_config(config(profiles=[{"pluginConfig": [
        {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 5}},
        {"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}},
        {"name": "DefaultPreemption", "args": {"minCandidateNodesAbsolute": 10}},
    ]}]))
    assert profile.hard_pod_affinity_weight == 5
    assert profile.default_spread() == (("zone", 2),)
    assert profile.min_candidate_absolute == 10


@pytest.mark.parametrize(("doc", "field"), [
    ({**HEAD, "apiVersion": "kubescheduler.config.k8s.io/v9"}, "apiVersion:"),
    ({**HEAD, "kind": "Other"}, "kind:"),
    (config(bogus=1), "bogus: unknown field"),
    (config(percentageOfNodesToScore=101), "percentageOfNodesToScore: not in valid range"),
    (config(podInitialBackoffSeconds=5, podMaxBackoffSeconds=1), "podMaxBackoffSeconds:"),
    (config(profiles=[{"schedulerName": "a"}, {"schedulerName": "a"}]),
     "profiles[1].schedulerName: duplicate"),
    (config(profiles=[{"plugins": {"filter": {"enabled": [{"name": "Nope"}]}}}]),
     "profiles[0].plugins.filter.enabled[0].name: unknown plugin 'Nope'"),
    (config(profiles=[{"plugins": {"score": {"enabled": [{"name": "NodePorts"}]}}}]),
     "profiles[0].plugins.score.enabled[0].name: plugin 'NodePorts' does not extend score"),
    (config(profiles=[{"plugins": {"fliter": {}}}]), "profiles[0].plugins.fliter: unknown"),
    (config(profiles=[{"pluginConfig": [{"name": "Nope", "args": {}}]}]),
     "profiles[0].pluginConfig[0].name: unknown plugin 'Nope'"),
    (config(profiles=[{"pluginConfig": [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": "Random"}}}]}]),
     "profiles[0].pluginConfig[0].args.scoringStrategy.type: unsupported 'Random'"),
    (config(profiles=[{"pluginConfig": [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}}}]}]),
     "args.scoringStrategy.resources[0].weight: must be in the range [1, 100]"),
])
def test_bad_configurations_name_the_field(doc: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert field in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_config_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                    "kind: KubeSchedulerConfiguration\n"
                    "profiles:\n- schedulerName: my-scheduler\n")
    assert [p.scheduler_name for p in load_config(str(path))] == ["my-scheduler"]


def test_load_config_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scheduler configuration"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(bad))
    assert "\n" not in str(caught.value)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("apiVersion: v1\nkind: Pod\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: apiVersion: unsupported 'v1'"):
        load_config(str(wrong))


def test_configuration_keeps_what_the_server_reads(tmp_path: Path) -> None:
    from servers.scheduler.framework import load_configuration
    path = tmp_path / "config.yaml"
    path.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                    "kind: KubeSchedulerConfiguration\n"
                    "clientConnection: {kubeconfig: /etc/km/scheduler.kubeconfig}\n"
                    "leaderElection: {leaderElect: false}\n")
    configuration = load_configuration(str(path))
    assert configuration.client_connection == {"kubeconfig": "/etc/km/scheduler.kubeconfig"}
    assert configuration.leader_election == {"leaderElect": False}
    assert [p.scheduler_name for p in configuration.profiles] == ["default-scheduler"]
