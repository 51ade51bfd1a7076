"""The minion's credential files: private keys and kubeconfigs 0600, kubeconfigs loadable."""

from __future__ import annotations

import stat
from pathlib import Path

from servers.client.kubeconfig import load_kubeconfig
from servers.minion.store import Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_and_kubeconfigs_are_private_and_name_the_files(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    store.write_ca(b"CA")
    store.write_pair("kubelet-client", b"KEY", b"CERT")
    path = store.write_kubeconfig("kubelet-client", "https://h:6443/")
    assert (_mode(store.key("kubelet-client")), _mode(path), _mode(store.pki)) == (
        0o600, 0o600, 0o700)
    assert _mode(store.cert("kubelet-client")) == 0o644
    config = load_kubeconfig(str(path))
    assert (config.server, config.ca_file, config.cert_file, config.key_file) == (
        "https://h:6443", str(store.ca), str(store.cert("kubelet-client")),
        str(store.key("kubelet-client")))
    assert store.server_of("kubelet-client") == "https://h:6443"
    assert store.server_of("proxy") == ""
    assert store.has("kubelet-client") and not store.has("proxy")
    assert not list(store.pki.glob(".*.tmp"))


def test_a_new_pair_replaces_the_old_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write_pair("proxy", b"K1", b"C1")
    store.write_pair("proxy", b"K2", b"C2")
    assert (store.key("proxy").read_bytes(), store.cert("proxy").read_bytes()) == (b"K2", b"C2")
