"""The join (TLS bootstrap with the CA pinned) and renewal against a small HTTPS stand-in."""

from __future__ import annotations

import hashlib
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from servers.client.kubeconfig import load_kubeconfig
from servers.minion import certificates, join, renew
from servers.minion import token as tokens
from servers.minion.store import Store
from tests.unit.minion.fakecluster import FakeCluster, subject

Make = Callable[..., Awaitable[FakeCluster]]


@pytest.fixture
async def make_cluster(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[FakeCluster] = []

    async def make(**kwargs: object) -> FakeCluster:
        folder = tmp_path / f"cluster{len(made)}"
        folder.mkdir()
        cluster = FakeCluster(folder, **kwargs)  # type: ignore[arg-type]
        made.append(cluster)
        await cluster.start()
        return cluster

    yield make
    for cluster in made:
        await cluster.stop()


def token_for(ca_pem: bytes) -> tokens.Token:
    return tokens.parse(f"K10{hashlib.sha256(ca_pem).hexdigest()}::abc123.0123456789abcdef")


async def test_bootstrap_pins_the_ca_then_asks_with_the_token(
        make_cluster: Make, tmp_path: Path) -> None:
    cluster = await make_cluster()
    store = Store(tmp_path / "root")
    await join.bootstrap(store, cluster.url, token_for(cluster.ca_pem), "n1", timeout=5)
    assert cluster.anonymous_info == 1
    assert store.ca.read_bytes() == cluster.ca_pem
    signers = [(who, obj["spec"]["signerName"], obj["spec"]["usages"])
               for who, obj in cluster.requests]
    assert signers == [
        ("abc123.0123456789abcdef", "kubernetes.io/kube-apiserver-client-kubelet",
         ["digital signature", "client auth"]),
        ("abc123.0123456789abcdef", "kubernetes.io/kube-apiserver-client",
         ["digital signature", "client auth"])]
    assert subject(store.cert("kubelet-client").read_bytes()) == (
        "system:node:n1", ["system:nodes"])
    assert subject(store.cert("proxy").read_bytes()) == ("system:kube-proxy", [])
    for role in ("kubelet-client", "proxy"):
        assert stat.S_IMODE(store.key(role).stat().st_mode) == 0o600
        config = load_kubeconfig(str(store.kubeconfig(role)))
        assert (config.server, config.ca_file) == (cluster.url, str(store.ca))
        config.ssl_context()  # the key matches the certificate


async def test_a_ca_that_does_not_match_the_token_is_refused_before_any_request(
        make_cluster: Make, tmp_path: Path) -> None:
    cluster = await make_cluster()
    other = await make_cluster()
    with pytest.raises(join.JoinError) as caught:
        await join.bootstrap(Store(tmp_path), cluster.url, token_for(other.ca_pem), "n1",
                             timeout=5)
    got = hashlib.sha256(cluster.ca_pem).hexdigest()
    want = hashlib.sha256(other.ca_pem).hexdigest()
    assert str(caught.value) == join.CA_MISMATCH.format(server=cluster.url, got=got, want=want)
    assert cluster.requests == [] and not (tmp_path / "pki").exists()


async def test_no_cluster_info_and_a_denied_request_are_one_line(
        make_cluster: Make, tmp_path: Path) -> None:
    bare = await make_cluster(cluster_info=False)
    with pytest.raises(join.JoinError, match="publishes no kube-public/cluster-info"):
        await join.bootstrap(Store(tmp_path), bare.url, token_for(bare.ca_pem), "n1", timeout=5)
    denying = await make_cluster(deny=True)
    with pytest.raises(certificates.CertificateError,
                       match=r"csr-0 \(kubernetes.io/kube-apiserver-client-kubelet\) was "
                             r"denied: not today"):
        await join.bootstrap(Store(tmp_path), denying.url, token_for(denying.ca_pem), "n1",
                             timeout=5)


async def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    token = token_for(b"x")
    with pytest.raises(join.JoinError, match=r"cannot reach https://127\.0\.0\.1:9"):
        await join.discover_ca("https://127.0.0.1:9", token)


async def test_renewal_asks_with_the_nodes_own_certificate(
        make_cluster: Make, tmp_path: Path) -> None:
    cluster = await make_cluster()
    store = Store(tmp_path)
    token = token_for(cluster.ca_pem)
    await join.bootstrap(store, cluster.url, token, "n1", timeout=5)
    before = store.cert("kubelet-client").read_bytes()
    changed: list[str] = []
    keeper = renew.Keeper(store, [certificates.NODE_CLIENT, certificates.NODE_SERVING],
                          node_name="n1", server=cluster.url, token=None,
                          on_change=changed.append, timeout=5, sans=("n1", "127.0.0.1"))
    await keeper.renew(certificates.NODE_CLIENT)
    await keeper.renew(certificates.NODE_SERVING)
    assert [(who, obj["spec"]["signerName"]) for who, obj in cluster.requests[2:]] == [
        ("system:node:n1", "kubernetes.io/kube-apiserver-client-kubelet"),
        ("system:node:n1", "kubernetes.io/kubelet-serving")]
    assert store.cert("kubelet-client").read_bytes() != before
    assert store.has("kubelet-serving")


async def test_an_expired_certificate_is_renewed_with_the_token(
        make_cluster: Make, tmp_path: Path) -> None:
    cluster = await make_cluster()
    store = Store(tmp_path)
    token = token_for(cluster.ca_pem)
    await join.bootstrap(store, cluster.url, token, "n1", timeout=5)
    keeper = renew.Keeper(store, [certificates.PROXY_CLIENT], node_name="n1",
                          server=cluster.url, token=token, on_change=lambda _: None, timeout=5)
    await keeper.renew(certificates.PROXY_CLIENT)
    assert cluster.requests[-1][0] == "system:node:n1", "the node asks for its proxy's"
    store.write_pair("kubelet-client", b"", b"")  # unreadable: counts as expired
    await keeper.renew(certificates.PROXY_CLIENT)
    assert cluster.requests[-1][0] == token.bearer
    assert subject(store.cert("proxy").read_bytes())[0] == "system:kube-proxy"
    keeper.token = None
    with pytest.raises(join.JoinError, match="has expired and there is no join token"):
        await keeper.renew(certificates.PROXY_CLIENT)


def test_rotation_deadline_is_between_70_and_90_percent_of_the_lifetime() -> None:
    assert renew.rotation_deadline(1000.0, 2000.0, lambda: 0.0) == pytest.approx(1700.0)
    assert renew.rotation_deadline(1000.0, 2000.0, lambda: 1.0) == pytest.approx(1900.0)
    assert renew.rotation_deadline(1000.0, 2000.0, lambda: 0.5) == pytest.approx(1800.0)


async def test_keeper_renews_a_certificate_when_it_is_due(
        make_cluster: Make, tmp_path: Path) -> None:
    cluster = await make_cluster()
    store = Store(tmp_path)
    await join.bootstrap(store, cluster.url, token_for(cluster.ca_pem), "n1", timeout=5)
    keeper = renew.Keeper(store, [certificates.NODE_CLIENT], node_name="n1",
                          server=cluster.url, token=None, on_change=lambda _: None, timeout=5)
    start, end = certificates.validity(store.cert("kubelet-client").read_bytes())
    assert start < time.time() < end
    due = keeper.due(certificates.NODE_CLIENT)
    assert start + 0.7 * (end - start) <= due <= start + 0.9 * (end - start)
    assert keeper.due(certificates.NODE_SERVING) == 0.0, "none yet: due at once"


async def test_keeper_loop_renews_when_due_and_says_which_role_changed(
        make_cluster: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    cluster = await make_cluster()
    store = Store(tmp_path)
    await join.bootstrap(store, cluster.url, token_for(cluster.ca_pem), "n1", timeout=5)
    deadlines = iter([0.0, time.time() + 3600])  # due now; then in an hour
    monkeypatch.setattr(renew, "rotation_deadline", lambda *_: next(deadlines))
    changed: list[str] = []
    keeper = renew.Keeper(store, [certificates.NODE_CLIENT], node_name="n1",
                          server=cluster.url, token=None, on_change=changed.append, timeout=5)
    stop = asyncio.Event()
    task = asyncio.ensure_future(keeper.run(stop))
    for _ in range(200):
        if changed:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert changed == ["kubelet-client"]
    assert len(cluster.requests) == 3, "two at the join, one renewal"


async def test_credentials_are_reused_only_for_this_node_server_and_ca(
        make_cluster: Make, tmp_path: Path) -> None:
    from servers.minion import app

    cluster = await make_cluster()
    store = Store(tmp_path)
    token = token_for(cluster.ca_pem)
    await join.bootstrap(store, cluster.url, token, "n1", timeout=5)
    assert app._joined(store, cluster.url + "/", token, "n1")
    assert not app._joined(store, cluster.url, token, "n2"), "another node name"
    assert not app._joined(store, "https://127.0.0.1:1", token, "n1"), "another server"
    assert not app._joined(store, cluster.url, token_for(b"other"), "n1"), "another CA"


async def test_sigterm_while_a_request_waits_for_its_signer_ends_the_minion(
        make_cluster: Make, tmp_path: Path) -> None:
    import asyncio

    from servers import km
    from servers.minion import app

    cluster = await make_cluster(pending=True)
    token = f"K10{hashlib.sha256(cluster.ca_pem).hexdigest()}::abc123.0123456789abcdef"
    server = km.make_hyperkube().find_server("minion")
    assert server is not None
    opts = server.make_parser("km minion").parse_args([
        "--server", cluster.url, "--token", token, "--isolation", "none", "--node-name", "n1",
        "--root-dir", str(tmp_path)])
    stop = asyncio.Event()
    task = asyncio.ensure_future(app.run(opts, stop))
    for _ in range(300):
        if cluster.requests:
            break
        await asyncio.sleep(0.01)
    assert cluster.requests, "the request was made and waits"
    stop.set()
    assert await asyncio.wait_for(task, 5) == 0
