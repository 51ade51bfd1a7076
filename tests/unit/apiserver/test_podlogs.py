"""pods/log's pure parts: the --kubelet-* flags, the container choice, the kubelet's URL and
the query passed on to it (the HTTP side is tests/integration/apiserver/test_pod_logs.py)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver import options, podlogs
from servers.apiserver.podlogs import KubeletClientConfig, LogOptions


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    return parser.parse_args(list(args))


def test_kubelet_flags_default_to_no_tls_material_and_kubes_address_order() -> None:
    config = KubeletClientConfig.from_options(parse())
    assert config == KubeletClientConfig(None, None, None, ("InternalIP", "Hostname",
                                                            "ExternalIP"))


def test_preferred_address_types_are_checked() -> None:
    assert parse("--kubelet-preferred-address-types", "Hostname, InternalDNS"
                 ).kubelet_preferred_address_types == ("Hostname", "InternalDNS")
    with pytest.raises(SystemExit):
        parse("--kubelet-preferred-address-types", "InternalIP,LegacyHostIP")


@pytest.mark.parametrize(("flag", "other"), [
    ("--kubelet-client-certificate", "--kubelet-client-key"),
    ("--kubelet-client-key", "--kubelet-client-certificate"),
])
def test_client_certificate_and_key_need_each_other(flag: str, other: str) -> None:
    with pytest.raises(options.OptionsError) as info:
        options.validate(parse(flag, "x.pem"))
    assert str(info.value) == options.NEEDS.format(flag=flag, other=other)


def test_a_tls_file_that_does_not_load_is_one_clear_line(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.crt")
    with pytest.raises(podlogs.KubeletTLSError) as info:
        KubeletClientConfig(certificate_authority=missing).ssl_context(verify=True)
    assert str(info.value) == "cannot load --kubelet-certificate-authority: " \
        "No such file or directory"


def spec(**lists: list[str]) -> dict[str, Any]:
    return {"spec": {kind: [{"name": n} for n in names] for kind, names in lists.items()}}


def test_the_only_container_is_chosen_and_any_named_one_is_valid() -> None:
    pod = spec(containers=["app"], initContainers=["setup"])
    assert podlogs.choose_container(pod, "web", "") == "app"
    assert podlogs.choose_container(pod, "web", "setup") == "setup"


def test_several_containers_name_every_choice_as_kube_does() -> None:
    pod = spec(containers=["a", "b"], initContainers=["i"], ephemeralContainers=["debug"])
    with pytest.raises(errors.BadRequest) as info:
        podlogs.choose_container(pod, "web", "")
    assert str(info.value) == ("a container name must be specified for pod web, "
                               "choose one of: [i a b debug]")  # podutil.VisitContainers' order
    with pytest.raises(errors.BadRequest) as info:
        podlogs.choose_container(spec(), "web", "")
    assert str(info.value) == "a container name must be specified for pod web"


def node(addresses: list[tuple[str, str]], port: Any = 10250) -> dict[str, Any]:
    return {"metadata": {"name": "n1"},
            "status": {"addresses": [{"type": t, "address": a} for t, a in addresses],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


def test_kubelet_url_takes_the_first_preferred_type_present() -> None:
    both = node([("Hostname", "n1.local"), ("InternalIP", "10.0.0.5")])
    assert str(podlogs.kubelet_url(both, ("InternalIP", "Hostname"))) == "https://10.0.0.5:10250"
    assert str(podlogs.kubelet_url(both, ("ExternalIP", "Hostname"))) == (
        "https://n1.local:10250")
    assert str(podlogs.kubelet_url(node([("InternalIP", "fd00::5")]), ("InternalIP",))) == (
        "https://[fd00::5]:10250")


@pytest.mark.parametrize("port", [None, 0, -1, 65536, "10250", True])
def test_a_missing_or_odd_kubelet_port_is_503(port: Any) -> None:
    with pytest.raises(errors.ServiceUnavailable, match="has no kubelet endpoint"):
        podlogs.kubelet_url(node([("InternalIP", "10.0.0.5")], port), ("InternalIP",))


def test_the_kubelet_query_is_kubes_spelling_sorted() -> None:
    opts = LogOptions.parse("web", {"follow": "1", "tailLines": "0", "container": "c",
                                    "sinceTime": "2026-05-06T07:08:09.123-02:00"})
    assert opts.kubelet_query() == {"follow": "true", "sinceTime": "2026-05-06T09:08:09Z",
                                    "tailLines": "0"}
    assert list(opts.kubelet_query()) == sorted(opts.kubelet_query())
    assert LogOptions.parse("web", {"follow": "false"}).kubelet_query() == {}


def test_every_refused_value_is_one_cause() -> None:
    with pytest.raises(errors.Invalid) as info:
        LogOptions.parse("web", {"tailLines": "-3", "limitBytes": "-1", "sinceSeconds": "0"})
    assert [c.field for c in info.value.causes] == ["tailLines", "limitBytes", "sinceSeconds"]
