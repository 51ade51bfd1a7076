"""ControllerRevisions: how the StatefulSet and DaemonSet controllers keep their history."""

from __future__ import annotations

import copy
from typing import Any

from servers.apimachinery.errors import AlreadyExists
from servers.client.resources import CONTROLLERREVISIONS
from servers.controller_manager.controllers import history
from servers.controller_manager.controllers import statefulset as ss
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, FakeInformer, context

Obj = dict[str, Any]


def parent(image: str = "v1", **status: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid",
                         "annotations": {"kubernetes.io/change-cause": f"to {image}"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": dict(status)}


def digest(p: Obj, data: Obj, collisions: int) -> str:
    return ss.revision_digest(p, data, collisions)


def stored(informer: FakeInformer, client: FakeClient) -> None:
    """Feed the client's created revisions into the informer, as a watch would."""
    for verb, plural, _, _, body in client.writes:
        if verb == "create" and plural == "controllerrevisions":
            informer.add(copy.deepcopy(body))


def make() -> tuple[history.History, FakeInformer, FakeClient]:
    client, factory = FakeClient(), FakeFactory()
    informer = factory.informer(CONTROLLERREVISIONS)
    return history.History(client, informer), informer, client  # type: ignore[arg-type]


async def test_a_new_template_becomes_revision_one_that_undo_can_send_back() -> None:
    h, _, client = make()
    made, collisions = await h.record(parent(), [], digest)
    assert collisions == 0 and made["revision"] == 1
    meta = made["metadata"]
    assert meta["name"] == ss.update_revision(parent())
    assert meta["labels"] == {"app": "web", "controller-revision-hash": meta["name"][4:]}
    assert meta["annotations"] == {"kubernetes.io/change-cause": "to v1"}
    assert meta["ownerReferences"][0]["uid"] == "sts-uid"
    assert meta["ownerReferences"][0]["controller"] is True
    # The data is the strategic merge patch kubectl rollout undo sends as it is.
    template = made["data"]["spec"]["template"]
    assert template.pop("$patch") == "replace"
    assert template == parent()["spec"]["template"]
    assert len(client.verbs("create", "controllerrevisions")) == 1


async def test_the_same_template_again_writes_nothing() -> None:
    h, informer, client = make()
    await h.record(parent(), [], digest)
    stored(informer, client)
    again, _ = await h.record(parent(), h.of(parent()), digest)
    assert again["revision"] == 1 and len(client.writes) == 1


async def test_going_back_to_an_old_template_renumbers_its_revision() -> None:
    h, informer, client = make()
    await h.record(parent("v1"), [], digest)
    stored(informer, client)
    await h.record(parent("v2"), h.of(parent()), digest)
    stored(informer, client)
    assert [r["revision"] for r in h.of(parent())] == [1, 2]
    await h.record(parent("v1"), h.of(parent()), digest)
    assert client.verbs("patch", "controllerrevisions")[-1][4] == {"revision": 3}
    assert len(client.verbs("create", "controllerrevisions")) == 2  # no copy made


async def test_a_name_taken_by_other_data_is_a_collision() -> None:
    h, _, client = make()
    squatter = history.new_revision(parent("other"), {"spec": {}}, 1, "x")
    squatter["metadata"]["name"] = ss.update_revision(parent())
    client.objects[("controllerrevisions", "default", squatter["metadata"]["name"])] = squatter
    real_create = client.create

    async def create(resource: Any, obj: Obj, namespace: str | None = None, **kw: Any) -> Obj:
        name = obj["metadata"]["name"]
        if (resource.plural, namespace, name) in client.objects:
            raise AlreadyExists(resource.plural, name, "apps")
        return await real_create(resource, obj, namespace, **kw)

    client.create = create  # type: ignore[method-assign]
    made, collisions = await h.record(parent(), [], digest)
    assert collisions == 1
    assert made["metadata"]["name"] == ss.update_revision(parent(collisionCount=1))


async def test_history_is_cut_to_the_limit_keeping_live_revisions() -> None:
    h, informer, client = make()
    owner = parent()
    owner["spec"]["revisionHistoryLimit"] = 2
    for n in range(1, 6):
        revision = history.new_revision(owner, {"n": n}, n, f"h{n}")
        revision["metadata"]["uid"] = f"r{n}"
        informer.add(revision)
    revisions = h.of(owner)
    await h.truncate(owner, revisions, live={"web-h1"})
    # Five revisions, one live: of the four others the newest two stay.
    assert [w[3] for w in client.verbs("delete", "controllerrevisions")] == ["web-h2", "web-h3"]


async def test_a_pod_below_the_partition_is_made_again_from_the_current_revision() -> None:
    ctx, factory, client = context()
    controller = ss.new(ctx)
    old, new = parent("v1"), parent("v2")
    new["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    new["spec"]["podManagementPolicy"] = "Parallel"
    old_revision = history.new_revision(old, history.template_patch(old), 1,
                                        ss.update_revision(old)[4:])
    old_revision["metadata"]["uid"] = "r1"
    factory.informer(CONTROLLERREVISIONS).add(old_revision)
    new["status"] = {"currentRevision": old_revision["metadata"]["name"]}
    factory["statefulsets"].add(new)
    await controller.sync("default/web")
    made = {w[3]: w[4] for w in client.verbs("create", "pods")}
    image = {name: pod["spec"]["containers"][0]["image"] for name, pod in made.items()}
    assert image == {"web-0": "v1", "web-1": "v2"}
    assert made["web-0"]["metadata"]["labels"]["controller-revision-hash"] == \
        old_revision["metadata"]["name"]
    assert made["web-1"]["metadata"]["labels"]["controller-revision-hash"] == \
        ss.update_revision(new)
