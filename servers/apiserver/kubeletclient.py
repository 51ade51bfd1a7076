"""How the apiserver reaches a pod's kubelet: the ``--kubelet-*`` TLS settings, the pod's
container and node, the node's kubelet address, and a kubelet's refusal as a Status.

Shared by pods/log (podlogs.py) and pods/exec|attach|portforward (podstream.py), which
differ only in what they ask the kubelet and how they carry its answer back:

    choose_container(pod, name, wanted)   ?container=, else the pod's only one (400 otherwise)
    KubeletLocator.node_url(pod, name)    spec.nodeName (400 without), the Node (404), an
                                          address of a --kubelet-preferred-address-types type
                                          and status.daemonEndpoints.kubeletEndpoint.Port
                                          (503 without): https://ADDRESS:PORT
    KubeletClientConfig.ssl_context()     the client certificate; the kubelet's serving
                                          certificate checked against the CA when one is given
    kubelet_error(status, text)           a kubelet's non-2xx answer as a Status, its code kept

kube-apiserver does the same in pkg/registry/core/pod/strategy.go (validateContainer,
streamLocation, LogLocation) and pkg/kubelet/client/kubelet_client.go (NodeConnectionInfoGetter).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from servers.apimachinery import errors
from servers.apimachinery.meta import Obj
from servers.apiserver import resources
from servers.apiserver.options import DEFAULT_KUBELET_ADDRESS_TYPES
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target

CONNECT_TIMEOUT_SECONDS = 10.0

NO_CONTAINER = "a container name must be specified for pod {pod}"
CHOOSE_CONTAINER = "a container name must be specified for pod {pod}, choose one of: [{names}]"
BAD_CONTAINER = "container {container} is not valid for pod {pod}"
NO_HOST = "pod {pod} does not have a host assigned"
NO_ADDRESS = ('node "{node}" has no address of the types {types} to reach its kubelet at '
              "(its addresses: [{known}])")
NO_PORT = 'node "{node}" has no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.Port)'
UNREACHABLE = 'cannot reach the kubelet of node "{node}" at {url}: {why}'
TLS_FILES = "cannot load {flags}: {error}"
NOT_VERIFIED = ("kubelet serving certificates are not verified "
                "(no --kubelet-certificate-authority)")


class KubeletTLSError(ValueError):
    """A --kubelet-* certificate, key or CA file does not load (no key material in it)."""


@dataclass(frozen=True)
class KubeletClientConfig:
    """How the apiserver reaches kubelets (its --kubelet-* flags)."""

    certificate: str | None = None
    key: str | None = None
    certificate_authority: str | None = None
    preferred_address_types: tuple[str, ...] = DEFAULT_KUBELET_ADDRESS_TYPES

    @classmethod
    def from_options(cls, opts: Any) -> KubeletClientConfig:
        return cls(opts.kubelet_client_certificate, opts.kubelet_client_key,
                   opts.kubelet_certificate_authority, opts.kubelet_preferred_address_types)

    def ssl_context(self, *, verify: bool) -> ssl.SSLContext:
        """TLS to a kubelet: the client certificate if any; the CA check when ``verify``.

        Raises KubeletTLSError when a file does not load.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if verify and self.certificate_authority:
            with _loading("--kubelet-certificate-authority"):
                context.load_verify_locations(cafile=self.certificate_authority)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate and self.key:
            with _loading("--kubelet-client-certificate/--kubelet-client-key"):
                context.load_cert_chain(self.certificate, self.key)
        return context


@contextlib.contextmanager
def _loading(flags: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ssl.SSLError) as exc:
        error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeletTLSError(TLS_FILES.format(flags=flags, error=error)) from None


class KubeletLocator:
    """Finds the kubelet of a pod's node, from the registry's Node objects."""

    def __init__(self, registry: Registry, preferred: tuple[str, ...]) -> None:
        self.registry = registry
        self.preferred = preferred

    async def node_url(self, pod: Obj, name: str) -> tuple[str, URL]:
        """The pod's node name and ``https://ADDRESS:PORT`` of its kubelet.

        400 when the pod is not scheduled, 404 when its Node is gone, 503 when the Node has
        no usable address or port."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequest(NO_HOST.format(pod=name))
        nodes = resources.by_plural("", "v1", "nodes")
        assert nodes is not None
        node = await self.registry.get(Target(nodes, None, str(node_name)))
        return str(node_name), kubelet_url(node, self.preferred)


def choose_container(pod: Obj, name: str, wanted: str) -> str:
    """The container named ``wanted``, or the pod's only one (kube's validateContainer)."""
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    every = [str(c.get("name", "")) for kind in ("initContainers", "containers",
                                                 "ephemeralContainers")  # podutil's order
             for c in spec.get(kind) or []]
    if wanted:
        if wanted not in every:
            raise errors.BadRequest(BAD_CONTAINER.format(container=wanted, pod=name))
        return wanted
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.BadRequest(NO_CONTAINER.format(pod=name))
    raise errors.BadRequest(CHOOSE_CONTAINER.format(pod=name, names=" ".join(every)))


def kubelet_url(node: Obj, preferred: tuple[str, ...]) -> URL:
    """``https://ADDRESS:PORT`` of the node's kubelet, the address by type preference."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, dict)]
    address = next((a.get("address") for kind in preferred for a in addresses
                    if a.get("type") == kind and a.get("address")), None)
    if not address:
        known = ", ".join(f"{a.get('type')}={a.get('address')}" for a in addresses)
        raise errors.ServiceUnavailable(NO_ADDRESS.format(
            node=name, types=",".join(preferred), known=known))
    endpoint = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
    port = endpoint.get("Port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise errors.ServiceUnavailable(NO_PORT.format(node=name))
    return URL.build(scheme="https", host=str(address), port=port)


def kubelet_error(status: int, reason: str, body: bytes) -> errors.StatusError:
    """A kubelet's non-2xx answer as a Status with its code (its own Status if it sent one),
    as kube's GenericHttpResponseChecker passes it on."""
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        decoded: Any = json.loads(text)
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            return errors.from_status(decoded)
    answer = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
              "message": text or f"the kubelet answered {status} {reason}"}
    error = errors.from_status(answer)
    error.reason = error.reason or type(error).reason  # the class the code chose
    return error


def unreachable(node: str, url: URL, exc: BaseException) -> errors.ServiceUnavailable:
    """The 503 for a kubelet that could not be reached, naming node, address and cause."""
    return errors.ServiceUnavailable(UNREACHABLE.format(node=node, url=url.origin(),
                                                        why=why(exc)))


def why(exc: BaseException) -> str:
    """A connection failure in a few words (aiohttp's own str() can show object reprs)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS: {exc.certificate_error}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no connection within {CONNECT_TIMEOUT_SECONDS:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError):  # its str() shows the SSLContext object
        return exc.strerror or type(exc.os_error).__name__
    return str(exc) or type(exc).__name__
