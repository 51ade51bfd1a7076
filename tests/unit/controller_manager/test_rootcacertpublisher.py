"""The root-ca-cert-publisher's sync over filled caches and a fake client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servers.controller_manager.controllers import rootcacertpublisher as pub
from tests.unit.controller_manager.fakes import context

Obj = dict[str, Any]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ns(name: str, phase: str = "Active") -> Obj:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


async def test_publishes_the_configmap_where_missing() -> None:
    ctx, factory, client = context()
    controller = pub.RootCACertPublisher(ctx, CA)
    factory["namespaces"].add(ns("team"))
    factory["namespaces"].add(ns("going", "Terminating"))
    assert len(controller.queue) == 2
    await controller.sync("team")
    await controller.sync("going")
    (_, plural, namespace, name, body), = client.verbs("create")
    assert (plural, namespace, name) == ("configmaps", "team", "kube-root-ca.crt")
    assert body["data"] == {"ca.crt": CA}
    assert body["metadata"]["annotations"] == {pub.DESCRIPTION_KEY: pub.DESCRIPTION}


async def test_puts_back_changed_data_and_leaves_a_good_one() -> None:
    ctx, factory, client = context()
    controller = pub.RootCACertPublisher(ctx, CA)
    factory["namespaces"].add(ns("team"))
    factory["namespaces"].add(ns("fine"))
    good = controller.wanted()
    good["metadata"].update(namespace="fine", resourceVersion="5")
    factory["configmaps"].add(good)
    changed = {"metadata": {"name": "kube-root-ca.crt", "namespace": "team",
                            "resourceVersion": "7"},
               "data": {"ca.crt": "tampered", "extra": "x"}}
    factory["configmaps"].add(changed)
    await controller.sync("fine")
    await controller.sync("team")
    (_, _, namespace, _, body), = client.verbs("update")
    assert namespace == "team" and body["data"] == {"ca.crt": CA}
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["annotations"][pub.DESCRIPTION_KEY] == pub.DESCRIPTION


def test_a_changed_or_deleted_configmap_queues_its_namespace() -> None:
    ctx, factory, _ = context()
    controller = pub.RootCACertPublisher(ctx, CA)
    cm = {"metadata": {"name": "kube-root-ca.crt", "namespace": "a"}}
    factory["configmaps"].add(cm)
    assert len(controller.queue) == 0  # an add is its own creation
    factory["configmaps"].delete(cm)
    assert len(controller.queue) == 1


def test_root_ca_file_and_no_ca(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text(CA)
    ctx, _, _ = context("--root-ca-file", str(tmp_path / "ca.crt"))
    controller = pub.new(ctx)
    assert controller is not None and controller.ca == CA
    ctx, _, _ = context()
    assert pub.new(ctx) is None  # the fake client has no kubeconfig
