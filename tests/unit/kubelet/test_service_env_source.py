"""The kubelet's pods take their Service env vars from its Service informer once it has synced
(kube's kubelet reads a lister), and LIST the Services only before that."""

from __future__ import annotations

from typing import Any

from servers.kubelet.workers import Kubelet


def svc(name: str, namespace: str, port: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": port, "protocol": "TCP"}]}}


KUBE = svc("kubernetes", "default", 443)
WEB = svc("web", "shop", 80)
OTHER = svc("db", "other", 5432)


class Services:
    """What the kubelet reads of an Informer."""

    def __init__(self, synced: bool, items: list[dict[str, Any]]) -> None:
        self.synced, self.items = synced, items

    def has_synced(self) -> bool:
        return self.synced

    def list(self) -> list[dict[str, Any]]:
        return list(self.items)

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return next((s for s in self.items if s["metadata"]["name"] == name
                     and s["metadata"]["namespace"] == namespace), None)


class Client:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    async def list(self, resource: Any, namespace: str | None = None, **_: Any) -> Any:
        self.calls.append(("list", resource.plural, namespace))
        return {"items": [s for s in (KUBE, WEB, OTHER)
                          if s["metadata"]["namespace"] == namespace]}

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Any:
        self.calls.append(("get", f"{resource.plural}/{name}", namespace))
        return KUBE


def kubelet(client: Client, services: Services | None) -> Kubelet:
    return Kubelet(client, runtime=object(), recorder=object(),  # type: ignore[arg-type]
                   node_name="n", node_ip="127.0.0.1", root_dir="/nonexistent",
                   allocatable={}, services=services)  # type: ignore[arg-type]


POD = {"metadata": {"name": "p", "namespace": "shop", "uid": "u"}, "spec": {}}


def names(sources: Any) -> list[str]:
    return sorted(s["metadata"]["name"] for s in sources.services)


async def test_a_synced_informer_answers_without_a_request() -> None:
    client = Client()
    sources = await kubelet(client, Services(True, [KUBE, WEB, OTHER]))._sources(
        POD, {}, "127.0.0.2")
    assert (names(sources), client.calls) == (["kubernetes", "web"], [])


async def test_before_the_informer_synced_the_services_are_listed() -> None:
    client = Client()
    sources = await kubelet(client, Services(False, []))._sources(POD, {}, "127.0.0.2")
    assert names(sources) == ["kubernetes", "web"]
    assert client.calls == [("list", "services", "shop"),
                            ("get", "services/kubernetes", "default")]
