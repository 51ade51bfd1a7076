"""pods/exec|attach|portforward's pure parts: the options as kube's parameter codec reads
them, the kubelet's query, close codes passed on, the remembered refusals (the relay itself is
tests/integration/apiserver/test_podstream.py)."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from servers.apimachinery import errors
from servers.apiserver import podstream
from servers.apiserver.podstream import StreamOptions


def query(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


@pytest.mark.parametrize(("value", "on"), [
    ("true", True), ("1", True), ("yes", True), ("", True), ("TRUE", True),
    ("false", False), ("False", False), ("0", False)])
def test_flags_read_as_kubes_parameter_codec(value: str, on: bool) -> None:
    opts = StreamOptions.parse("attach", query(("stdout", value), ("stderr", "1")))
    assert opts.stdout is on


def test_exec_keeps_the_command_in_order_and_translates_the_streams() -> None:
    opts = StreamOptions.parse("exec", query(
        ("command", "sh"), ("command", "-c"), ("command", "echo a b"), ("stdin", "true"),
        ("stdout", "true"), ("tty", "true"), ("container", "app")))
    assert (opts.container, opts.command) == ("app", ("sh", "-c", "echo a b"))
    assert opts.kubelet_query() == [("command", "sh"), ("command", "-c"),
                                    ("command", "echo a b"), ("input", "1"), ("output", "1"),
                                    ("tty", "1")]


def test_attach_ignores_a_command() -> None:
    opts = StreamOptions.parse("attach", query(("command", "ls"), ("stderr", "true")))
    assert opts.command == () and opts.kubelet_query() == [("error", "1")]


@pytest.mark.parametrize("sub", ["exec", "attach"])
def test_no_stream_at_all_is_kubes_400(sub: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        StreamOptions.parse(sub, query(("command", "ls"), ("tty", "true")))
    assert info.value.message == podstream.NO_STREAMS


@pytest.mark.parametrize(("values", "ports"), [
    ((), ()), (("80",), (80,)), (("80,8080",), (80, 8080)), (("80", "443"), (80, 443))])
def test_ports_repeated_or_comma_separated(values: tuple[str, ...],
                                          ports: tuple[int, ...]) -> None:
    opts = StreamOptions.parse("portforward", query(*(("ports", v) for v in values)))
    assert opts.ports == ports
    assert opts.kubelet_query() == ([("port", ",".join(map(str, ports)))] if ports else [])


@pytest.mark.parametrize(("value", "why"), [
    ("http", '"http": invalid syntax'), ("80,", '"": invalid syntax'),
    ("-1", '"-1": invalid syntax'), ("65536", '"65536": value out of range'),
    ("٣", '"٣": invalid syntax')])
def test_bad_ports_are_400(value: str, why: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        StreamOptions.parse("portforward", query(("ports", value)))
    assert info.value.message.endswith(why)


@pytest.mark.parametrize(("code", "sent"), [
    (1000, 1000), (4001, 4001), (1011, 1011), (1005, 1000), (1006, 1000), (None, 1000),
    (0, 1000), (70000, 1000)])
def test_close_codes_passed_on_are_sendable(code: object, sent: int) -> None:
    assert podstream._sendable(code) == sent


def test_a_refusal_answers_the_fallback_once_and_not_for_long(
        monkeypatch: pytest.MonkeyPatch) -> None:
    refusals = podstream._Refusals()
    refused = errors.NotFound("pods", "ghost")
    refusals.remember(("alice", "/x"), refused)
    assert refusals.recall(("bob", "/x")) is None  # someone else's
    assert refusals.recall(("alice", "/x")) is refused
    assert refusals.recall(("alice", "/x")) is None  # once
    refusals.remember(("alice", "/x"), refused)
    now = podstream.time.monotonic()
    monkeypatch.setattr(podstream.time, "monotonic", lambda: now + podstream.REFUSAL_SECONDS)
    assert refusals.recall(("alice", "/x")) is None  # too old


def test_refusals_kept_are_bounded() -> None:
    refusals = podstream._Refusals()
    for i in range(podstream.REFUSALS_KEPT + 10):
        refusals.remember(("u", f"/{i}"), errors.BadRequest("no"))
    assert refusals.recall(("u", "/0")) is None
    assert refusals.recall(("u", f"/{podstream.REFUSALS_KEPT + 9}")) is not None


def test_discovery_lists_the_connect_subresources_as_kube_does() -> None:
    from servers.apiserver import discovery

    doc = discovery.api_resource_list("", "v1")
    assert doc is not None
    entries = {e["name"]: e for e in doc["resources"]}
    for sub, kind in (("attach", "PodAttachOptions"), ("exec", "PodExecOptions"),
                      ("portforward", "PodPortForwardOptions")):
        assert entries[f"pods/{sub}"] == {"name": f"pods/{sub}", "singularName": "",
                                          "namespaced": True, "kind": kind,
                                          "verbs": ["create", "get"]}


def test_openapi_describes_them_as_connect_operations() -> None:
    from servers.apiserver import openapi

    paths = openapi.document("", "v1")["paths"]
    exec_ = paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert (exec_["get"]["operationId"], exec_["post"]["operationId"]) == (
        "connectCoreV1GetNamespacedPodExec", "connectCoreV1PostNamespacedPodExec")
    assert exec_["get"]["x-kubernetes-action"] == "connect"
    assert [p["name"] for p in exec_["parameters"]] == [
        "name", "namespace", "command", "container", "stderr", "stdin", "stdout", "tty"]
    forward = paths["/api/v1/namespaces/{namespace}/pods/{name}/portforward"]
    assert forward["post"]["operationId"] == "connectCoreV1PostNamespacedPodPortforward"
    assert [p["name"] for p in forward["parameters"]][2:] == ["ports"]
