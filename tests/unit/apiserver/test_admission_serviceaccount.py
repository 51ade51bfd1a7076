"""The ServiceAccount admission plugin: the default account, the refusal of a missing one,
automount from pod and account, and the projected token volume and its mounts."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver.admission import serviceaccount as sa

Obj = dict[str, Any]


def plugin(accounts: dict[str, Obj]) -> tuple[sa.ServiceAccountAdmission, list[str]]:
    asked: list[str] = []

    async def lookup(namespace: str, name: str) -> Obj:
        asked.append(f"{namespace}/{name}")
        if name not in accounts:
            raise errors.NotFound("serviceaccounts", name)
        return accounts[name]

    return sa.ServiceAccountAdmission(lookup, retry_seconds=0), asked


def pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c"}], **spec}}


async def test_default_account_and_the_token_volume() -> None:
    admit, _ = plugin({"default": {}})
    obj = pod(initContainers=[{"name": "i"}])
    await admit.admit_pod_create(obj)
    spec = obj["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    assert volume == sa.token_volume(volume["name"])
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"] == {"expirationSeconds": 3607, "path": "token"}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    mount = {"name": volume["name"], "readOnly": True,
             "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]


async def test_missing_account_is_forbidden_after_retries_for_default() -> None:
    admit, asked = plugin({})
    with pytest.raises(errors.Forbidden) as caught:
        await admit.admit_pod_create(pod())
    assert caught.value.code == 403
    assert ('error looking up service account ns/default: serviceaccount "default" not found'
            in str(caught.value))
    assert len(asked) == sa.DEFAULT_ATTEMPTS
    asked.clear()
    with pytest.raises(errors.Forbidden):
        await admit.admit_pod_create(pod(serviceAccountName="robot"))
    assert asked == ["ns/robot"]


@pytest.mark.parametrize(("pod_says", "account_says", "mounted"), [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True),
    (False, True, False)])
async def test_automount(pod_says: bool | None, account_says: bool | None,
                         mounted: bool) -> None:
    account = {} if account_says is None else {"automountServiceAccountToken": account_says}
    admit, _ = plugin({"default": account})
    obj = pod() if pod_says is None else pod(automountServiceAccountToken=pod_says)
    await admit.admit_pod_create(obj)
    assert ("volumes" in obj["spec"]) is mounted


async def test_existing_mount_and_volume_are_kept() -> None:
    admit, _ = plugin({"default": {}})
    own = {"name": "mine", "mountPath": sa.MOUNT_PATH}
    obj = pod(containers=[{"name": "a", "volumeMounts": [own]}], volumes=[{"name": "mine"}])
    await admit.admit_pod_create(obj)
    assert obj["spec"]["volumes"] == [{"name": "mine"}]
    assert obj["spec"]["containers"][0]["volumeMounts"] == [own]
    obj = pod(volumes=[{"name": "kube-api-access-abcde", "emptyDir": {}}])
    await admit.admit_pod_create(obj)
    assert len(obj["spec"]["volumes"]) == 1
    assert obj["spec"]["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-abcde"


async def test_mirror_pods_are_left_alone() -> None:
    admit, asked = plugin({})
    obj = pod()
    obj["metadata"]["annotations"] = {sa.MIRROR_ANNOTATION: "x"}
    await admit.admit_pod_create(obj)
    assert asked == [] and "serviceAccountName" not in obj["spec"]

