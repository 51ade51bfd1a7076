"""km minion's flags and its table of children: each child gets this node's settings, the
passed-through flags win, bad ones are one line; the ways of joining exclude each other."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import pytest

from hyperkube import messages as msg
from hyperkube import together
from servers import km
from servers.kubelet import nodeip
from servers.minion import app, options
from servers.minion.learn import Facts

TOKEN = "K10" + "a" * 64 + "::abcdef.0123456789abcdef"


def parse(*args: str) -> argparse.Namespace:
    server = km.make_hyperkube().find_server("minion")
    assert server is not None
    return server.make_parser("km minion").parse_args(list(args))


def rows(tmp_path: Path, *args: str, facts: Facts | None = None,
         isolation: str = "none") -> dict[str, list[str]]:
    opts = parse("--server", "https://10.0.0.1:6443", "--token", TOKEN, "--node-name", "N1",
                 "--node-ip", "127.0.0.1", "--root-dir", str(tmp_path), *args)
    s = app.settings(opts)
    s = app.Settings(s.node_name, s.node_ip, isolation, s.store)
    creds = app.Credentials(kubelet="k.kubeconfig", proxy="p.kubeconfig", client_ca="ca.crt")
    return dict(app.table(s, creds, facts or Facts(), opts))


def test_kubelet_and_proxy_get_the_node_name_as_hostname_override(tmp_path: Path) -> None:
    got = rows(tmp_path)
    assert list(got) == ["kubelet", "proxy"], "no dns without a pod network"
    kubelet = got["kubelet"]
    assert kubelet[kubelet.index("--hostname-override") + 1] == "n1", "lower-cased"
    assert kubelet[kubelet.index("--root-dir") + 1] == str(tmp_path / "kubelet")
    assert kubelet[kubelet.index("--kubeconfig") + 1] == "k.kubeconfig"
    assert kubelet[kubelet.index("--client-ca-file") + 1] == "ca.crt"
    assert "--cluster-dns" not in kubelet
    proxy = got["proxy"]
    assert proxy[proxy.index("--hostname-override") + 1] == "n1"
    assert proxy[proxy.index("--proxy-mode") + 1] == "userspace"


def test_a_pod_network_adds_dns_on_the_bridge_address(tmp_path: Path) -> None:
    facts = Facts(cluster_domain="example.org", pod_cidr="10.244.3.0/24")
    got = rows(tmp_path, facts=facts, isolation="namespaces")
    assert list(got) == ["kubelet", "proxy", "dns"]
    assert got["kubelet"][got["kubelet"].index("--cluster-dns") + 1] == "10.244.3.1"
    assert got["kubelet"][got["kubelet"].index("--cluster-domain") + 1] == "example.org"
    assert got["proxy"][got["proxy"].index("--proxy-mode") + 1] == "nftables"
    assert got["dns"][:2] == ["--kubeconfig", "p.kubeconfig"]
    assert got["dns"][got["dns"].index("--bind-address") + 1] == "10.244.3.1"


def test_passed_through_flags_come_last_so_they_win(tmp_path: Path) -> None:
    got = rows(tmp_path, "--kubelet-arg", "max-pods=5", "--kubelet-arg=--root-dir=/x",
               "--kube-proxy-arg", "proxy-mode=userspace")
    assert got["kubelet"][-2:] == ["--max-pods=5", "--root-dir=/x"]
    planned = together.resolve(km.make_hyperkube().servers, list(got.items()), prog="km minion")
    kubelet = planned[0][1]
    assert (kubelet.max_pods, kubelet.root_dir, kubelet.hostname_override) == (5, "/x", "n1")


def test_children_are_this_program_again_and_dns_waits_for_the_bridge(tmp_path: Path) -> None:
    facts = Facts(pod_cidr="10.244.3.0/24")
    table = list(rows(tmp_path, facts=facts, isolation="namespaces").items())
    bridge = asyncio.Event()
    kids = app.children(table, bridge)
    assert [(c.name, c.args[0], c.after) for c in kids] == [
        ("kubelet", "kubelet", None), ("proxy", "proxy", None), ("dns", "dns", bridge)]


@pytest.mark.parametrize(("flag", "error"), [
    ("--kubelet-arg=max-pods=0", "flags of kubelet: argument --max-pods"),
    ("--kubelet-arg=no-such-flag=1", 'flags of kubelet: unrecognized arguments: '
                                     '--no-such-flag=1'),
    ("--kubelet-arg=tls-cert-file=x", "flags of kubelet: --tls-cert-file and "
                                      "--tls-private-key-file go together"),
])
def test_a_bad_passed_through_flag_is_one_line(tmp_path: Path, flag: str, error: str) -> None:
    table = list(rows(tmp_path, flag).items())
    with pytest.raises(together.TableError) as caught:
        app.children(table, asyncio.Event())
    assert str(caught.value).startswith(error)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("args", "error"), [
    ((), options.NEED_CREDENTIALS),
    (("--server", "https://h:6443"), options.NEED_CREDENTIALS),
    (("--token", TOKEN), options.NEED_CREDENTIALS),
    (("--kubeconfig", "k", "--server", "https://h:6443"), options.BOTH_CREDENTIALS),
    (("--kubeconfig", "k", "--token", TOKEN), options.BOTH_CREDENTIALS),
])
def test_exactly_one_way_of_joining(args: tuple[str, ...], error: str) -> None:
    with pytest.raises(options.OptionsError, match=re.escape(error)):
        options.validate(parse(*args))


def test_ways_of_joining_that_validate() -> None:
    options.validate(parse("--kubeconfig", "k"))
    options.validate(parse("--server", "https://h:6443", "--token", TOKEN))
    options.validate(parse("--server", "https://h:6443", "--token-file", "f"))


def test_defaults_are_the_minions(tmp_path: Path) -> None:
    opts = parse()
    assert (opts.root_dir, opts.isolation, opts.log_dir) == (
        options.DEFAULT_ROOT_DIR, "auto", None)
    assert (opts.max_log_size, opts.max_log_backups, opts.max_log_age) == (
        10 << 20, 5, 168 * 3600)


def test_token_file_is_read_and_a_missing_one_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "node-token"
    path.write_text(TOKEN + "\n")
    assert app.read_token(parse("--token-file", str(path))).token_id == "abcdef"
    with pytest.raises(app.MinionError, match="cannot read --token-file"):
        app.read_token(parse("--token-file", str(tmp_path / "nope")))


def test_namespaces_without_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(app.MinionError, match=re.escape(app.NEEDS_ROOT)):
        app.settings(parse("--isolation", "namespaces"))
    assert app.settings(parse()).isolation == "none"
    assert msg.EXIT_FAILURE == 1


def test_the_node_ip_is_the_address_that_reaches_the_server() -> None:
    assert app.node_ip("https://127.0.0.1:6443", "nohost.invalid") == "127.0.0.1"
    assert app.node_ip("https://[::1]:6443", "x") == "::1"
    # no server: the one k3s picks (the default route's interface; tests/unit/all_in_one)
    assert app.node_ip("", "localhost") == nodeip.node_ip("localhost").ip
