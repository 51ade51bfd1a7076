"""km all-in-one's flag plumbing: its table reaches each server's own parser, passed-through
flags win, bad ones are one line and exit 1; and its PKI, made once and reused."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import logging
import os
from pathlib import Path

import pytest
from cryptography import x509

from hyperkube import messages as msg
from hyperkube import together
from servers import km
from servers.all_in_one import app, options, pki


def parse(*args: str) -> argparse.Namespace:
    server = km.make_hyperkube().find_server("all-in-one")
    assert server is not None
    return server.make_parser("km all-in-one").parse_args(list(args))


def members(tmp_path: Path, *args: str) -> dict[str, together.Member]:
    opts = parse("--data-dir", str(tmp_path), "--bind-address", "127.0.0.1",
                 "--secure-port", "0", "--node-name", "n1", "--isolation", "none", *args)
    planned = together.plan(km.make_hyperkube().servers, app.table(app.settings(opts), opts),
                            prog="km all-in-one")
    app.check(planned)
    return {m.name: m for m in planned}


def test_each_server_gets_its_identity_and_the_cluster_s_settings(tmp_path: Path) -> None:
    got = members(tmp_path)
    assert list(got) == ["apiserver", "controller-manager", "scheduler", "kubelet", "proxy"]
    api = got["apiserver"].opts
    assert (api.bind_address, api.authorization_mode) == ("127.0.0.1", "Node,RBAC")
    assert str(api.service_cluster_ip_range).startswith("127.9"), "a loopback range in none"
    assert api.data_dir == str(tmp_path / "db")
    assert got["kubelet"].opts.kubeconfig == str(tmp_path / "pki" / "node-n1.kubeconfig")
    assert got["kubelet"].opts.isolation == "none"
    assert got["proxy"].opts.proxy_mode == "userspace"
    cm = got["controller-manager"].opts
    assert (cm.allocate_node_cidrs, cm.cluster_cidr) == (True, "10.244.0.0/16")
    for name in ("controller-manager", "scheduler"):
        assert got[name].opts.leader_elect_identity == "n1", "a restart reclaims its lease"


def test_kubelet_arg_reaches_the_kubelet_s_parser_and_wins(tmp_path: Path) -> None:
    got = members(tmp_path, "--kubelet-arg", "max-pods=7", "--kubelet-arg=--isolation=none",
                  "--kube-apiserver-arg", "v=3", "--kube-scheduler-arg", "leader-elect=false",
                  "--kube-proxy-arg", "sync-period=5s")
    assert got["kubelet"].opts.max_pods == 7
    assert got["apiserver"].opts.verbosity == 3
    assert got["scheduler"].opts.leader_elect is False
    assert got["proxy"].opts.sync_period == 5.0
    assert got["controller-manager"].opts.verbosity == 0, "only where it was passed"


@pytest.mark.parametrize(("args", "error"), [
    (["--kubelet-arg", "bogus=1"], msg.GROUP_BAD_FLAGS.format(
        server="kubelet", error="unrecognized arguments: --bogus=1")),
    (["--kubelet-arg", "max-pods=many"], msg.GROUP_BAD_FLAGS.format(
        server="kubelet", error="argument --max-pods: invalid number \"many\"")),
    (["--kube-controller-manager-arg", "controllers=nope"], msg.GROUP_BAD_FLAGS.format(
        server="controller-manager", error='"nope" is not in the list of known controllers')),
], ids=["unknown", "bad-value", "validate"])
def test_a_bad_passed_flag_is_one_line(tmp_path: Path, args: list[str], error: str) -> None:
    with pytest.raises(together.TableError) as info:
        members(tmp_path, *args)
    assert str(info.value) == error


def test_a_bad_passed_flag_exits_1_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    hk = km.make_hyperkube()
    hk._out, hk._err = out, err
    data = tmp_path / "data"
    code = hk.run(["km", "all-in-one", "--data-dir", str(data), "--isolation", "none",
                   "--bind-address", "127.0.0.1", "--secure-port", "0",
                   "--kubelet-arg", "bogus=1"])
    assert code == msg.EXIT_FAILURE
    assert err.getvalue() == msg.SERVER_ERROR.format(
        prog="km", server="all-in-one", error=msg.GROUP_BAD_FLAGS.format(
            server="kubelet", error="unrecognized arguments: --bogus=1")) + "\n"
    assert not data.exists()


def test_tls_san_takes_lists_and_refuses_garbage() -> None:
    assert parse("--tls-san", "a.example,10.0.0.9", "--tls-san", "::1").tls_san == [
        "a.example", "10.0.0.9", "::1"]
    with pytest.raises(argparse.ArgumentTypeError, match="not a host name"):
        options._names("http://x")


def test_pass_through_spelling() -> None:
    assert options._pass_through("max-pods=5") == "--max-pods=5"
    assert options._pass_through("--v=2") == "--v=2"
    assert options._pass_through("leader-elect") == "--leader-elect"
    with pytest.raises(argparse.ArgumentTypeError):
        options._pass_through("=5")


def test_namespaces_without_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(app.AllInOneError, match="needs root"):
        app.settings(parse("--isolation", "namespaces"))


def test_namespaces_mode_takes_nftables_the_kube_range_and_dns(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    opts = parse("--data-dir", str(tmp_path), "--bind-address", "127.0.0.1", "--secure-port",
                 "0", "--node-name", "n1", "--isolation", "namespaces")
    rows = dict(app.table(app.settings(opts), opts))
    assert rows["proxy"][rows["proxy"].index("--proxy-mode") + 1] == "nftables"
    assert "dns" in rows
    api = rows["apiserver"]
    assert api[api.index("--service-cluster-ip-range") + 1] == "10.96.0.0/12"
    assert api[api.index("--service-account-signing-key-file") + 1] == str(
        tmp_path / "pki" / "sa.key"), "pods get their service account token volume"
    none = parse("--data-dir", str(tmp_path), "--isolation", "none", "--secure-port", "0",
                 "--bind-address", "127.0.0.1")
    api = dict(app.table(app.settings(none), none))["apiserver"]
    assert api[api.index("--service-account-signing-key-file") + 1] == str(
        tmp_path / "pki" / "sa.key"), "none mode too: the kubelet mounts it (mountns.py)"


def test_none_mode_without_a_user_namespace_is_said_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from servers.kubelet.runtime import process

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(process, "mounts_unavailable", lambda: "unshare: Operation not permitted")
    opts = parse("--data-dir", str(tmp_path), "--isolation", "none", "--secure-port", "0",
                 "--bind-address", "127.0.0.1", "--node-ip", "127.0.0.1")
    with caplog.at_level(logging.WARNING):
        app._mounts_check(app.settings(opts))
    assert [r.getMessage() for r in caplog.records] == [
        app.NO_MOUNTS.format(why="unshare: Operation not permitted")]
    monkeypatch.setattr(process, "mounts_unavailable", lambda: "")
    caplog.clear()
    app._mounts_check(app.settings(opts))
    assert not caplog.records


async def test_pki_is_made_once_reused_and_covers_the_names(tmp_path: Path) -> None:
    server = "https://127.0.0.1:6443"
    sans = pki.apiserver_sans("n1", "192.0.2.7", "0.0.0.0", ["api.example"], "10.96.0.1")
    await pki.ensure(tmp_path, server=server, sans=sans, node_name="n1", node_ip="192.0.2.7")
    ca = (tmp_path / "ca.crt").read_bytes()
    cert = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    got = {str(v) for v in names.get_values_for_type(x509.IPAddress)}
    got |= set(names.get_values_for_type(x509.DNSName))
    assert {"192.0.2.7", "10.96.0.1", "api.example", "kubernetes.default.svc",
            "127.0.0.1", "n1"} <= got
    token = pki.ensure_token(tmp_path / "node-token", tmp_path / "ca.crt")
    assert token.startswith(f"K10{hashlib.sha256(ca).hexdigest()}::")
    ident, _, secret = token.partition("::")[2].partition(".")
    assert (len(ident), len(secret)) == (6, 16)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    await pki.ensure(tmp_path, server=server, sans=sans, node_name="n1", node_ip="192.0.2.7")
    assert pki.ensure_token(tmp_path / "node-token", tmp_path / "ca.crt") == token
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "reused"
    # A new --tls-san re-signs the serving cert (same CA); a new port rewrites kubeconfigs.
    await pki.ensure(tmp_path, server="https://127.0.0.1:7443", sans=[*sans, "new.example"],
                     node_name="n1", node_ip="192.0.2.7")
    assert (tmp_path / "ca.crt").read_bytes() == ca
    assert (tmp_path / "apiserver.crt").read_bytes() != before["apiserver.crt"]
    assert b"127.0.0.1:7443" in (tmp_path / "admin.kubeconfig").read_bytes()
    assert (tmp_path / "node-n1.crt").read_bytes() == before["node-n1.crt"]


async def test_after_starts_a_runner_only_once_its_event_is_set() -> None:
    ran: list[str] = []

    async def runner(opts: argparse.Namespace, stop: asyncio.Event) -> int:
        ran.append("ran")
        return 0

    event, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(app._after(event, runner)(argparse.Namespace(), stop))
    await asyncio.sleep(0.01)
    assert ran == []
    event.set()
    assert await asyncio.wait_for(task, 1) == 0
    assert ran == ["ran"]
    stop.set()
    assert await app._after(asyncio.Event(), runner)(argparse.Namespace(), stop) == 0
    assert ran == ["ran"], "stopped before its event: never started"


async def test_a_set_up_that_fails_for_good_stops_the_cluster(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    from servers.all_in_one import bootstrap

    steps = bootstrap.Steps(tmp_path / "missing.kubeconfig", "n1", pod_network=False)
    stop = asyncio.Event()
    await asyncio.wait_for(app._set_up(steps, stop, {}), 5)
    assert steps.failed and stop.is_set()
    assert not steps.api_ready.is_set(), "the servers waiting on it never start"
    assert "all-in-one set-up failed: " in caplog.text
