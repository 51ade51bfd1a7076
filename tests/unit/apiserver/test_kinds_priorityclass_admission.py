"""The Priority admission plugin over a filled view of PriorityClasses (storage faked: it only
answers the view's misses)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver.admission import priority
from servers.apiserver.kinds import priorityclass as pcs
from servers.apiserver.storage import interface as st


class _NoStorage:
    async def get(self, key: str) -> st.KeyValue:
        raise st.KeyNotFound(key)


def view(*classes: dict[str, Any]) -> priority.PriorityClasses:
    found = priority.PriorityClasses(_NoStorage(), None)  # type: ignore[arg-type]
    found.classes.update({c["metadata"]["name"]: c for c in classes})
    return found


def pc(name: str, value: int, **fields: Any) -> dict[str, Any]:
    obj = {"metadata": {"name": name}, "value": value, **fields}
    pcs.default(obj)
    return obj


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "c"}], **spec}}


async def test_no_class_and_no_default_is_priority_zero() -> None:
    obj = pod()
    await priority.admit_pod_create(view(), obj)
    assert (obj["spec"]["priority"], obj["spec"]["preemptionPolicy"]) == (
        0, "PreemptLowerPriority")
    assert "priorityClassName" not in obj["spec"]


async def test_the_named_class_gives_value_and_policy() -> None:
    obj = pod(priorityClassName="batch")
    await priority.admit_pod_create(view(pc("batch", 50, preemptionPolicy="Never")), obj)
    assert (obj["spec"]["priority"], obj["spec"]["preemptionPolicy"]) == (50, "Never")


async def test_the_global_default_class_is_named_on_the_pod() -> None:
    obj = pod()
    classes = view(pc("normal", 10, globalDefault=True), pc("other", 99))
    await priority.admit_pod_create(classes, obj)
    assert (obj["spec"]["priorityClassName"], obj["spec"]["priority"]) == ("normal", 10)


async def test_of_two_defaults_the_lower_value_wins() -> None:
    classes = view(pc("b", 20, globalDefault=True), pc("a", 10, globalDefault=True))
    assert classes.global_default()["metadata"]["name"] == "a"  # type: ignore[index]


async def test_system_classes_are_known_in_any_namespace() -> None:
    obj = pod(priorityClassName="system-node-critical")
    await priority.admit_pod_create(view(), obj)
    assert obj["spec"]["priority"] == 2_000_001_000


async def test_an_unknown_class_is_forbidden() -> None:
    with pytest.raises(errors.Forbidden) as caught:
        await priority.admit_pod_create(view(), pod(priorityClassName="gold"))
    assert caught.value.message == ('pods "web" is forbidden: no PriorityClass with name gold '
                                    "was found")


async def test_a_priority_that_disagrees_with_the_class_is_forbidden() -> None:
    with pytest.raises(errors.Forbidden) as caught:
        await priority.admit_pod_create(view(pc("batch", 50)),
                                        pod(priorityClassName="batch", priority=7))
    assert caught.value.message.endswith(
        "the integer value of priority (7) must not be provided in pod spec; priority "
        "admission controller computed 50 from the given PriorityClass name")
    agreeing = pod(priorityClassName="batch", priority=50)
    await priority.admit_pod_create(view(pc("batch", 50)), agreeing)
    with pytest.raises(errors.Forbidden):
        await priority.admit_pod_create(view(pc("batch", 50)),
                                        pod(priorityClassName="batch",
                                            preemptionPolicy="Never"))


def test_an_update_keeps_the_priority_set_at_create() -> None:
    old = pod(priority=50, preemptionPolicy="Never")
    new = pod()
    priority.admit_pod_update(new, old)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (50, "Never")


def test_only_one_global_default() -> None:
    classes = view(pc("normal", 10, globalDefault=True))
    priority.validate_class(classes, pc("other", 5), None)
    with pytest.raises(errors.Forbidden) as caught:
        priority.validate_class(classes, pc("other", 5, globalDefault=True), None)
    assert caught.value.message == (
        'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass normal is '
        "already marked as default. Only one default can exist")
    priority.validate_class(classes, pc("normal", 10, globalDefault=True),
                            pc("normal", 10, globalDefault=True))  # updating the default
    with pytest.raises(errors.Forbidden):
        priority.validate_class(classes, pc("other", 5, globalDefault=True), pc("other", 5))


def test_system_classes_cannot_be_deleted() -> None:
    with pytest.raises(errors.Forbidden) as caught:
        priority.validate_delete(pcs.system_class("system-cluster-critical"))
    assert caught.value.message.endswith("this is a system priority class and cannot be deleted")
    priority.validate_delete(pc("mine", 1))


class _Flaky:
    """A storage whose first list fails (unavailable), then answers with no classes."""

    def __init__(self) -> None:
        self.lists = 0

    async def list(self, prefix: str) -> st.ListResult:
        self.lists += 1
        if self.lists == 1:
            raise st.Unavailable("etcd is away")
        return st.ListResult([], 5, False, 0)


class _Quiet:
    async def batches(self, prefix: str, after: int) -> Any:
        await asyncio.Event().wait()
        yield []  # pragma: no cover


async def test_a_failed_first_list_is_an_error_and_the_next_start_retries() -> None:
    storage = _Flaky()
    classes = priority.PriorityClasses(storage, _Quiet())  # type: ignore[arg-type]
    try:
        with pytest.raises(st.Unavailable):
            await classes.start()
        await asyncio.wait_for(classes.start(), timeout=5)
        assert storage.lists == 2
        await classes.start()  # listed: nothing more to do
        assert storage.lists == 2
    finally:
        await classes.close()
