"""What lets other hosts join the all-in-one: its join token's Secret and kube-public/cluster-info.

    kube-system/bootstrap-token-ID   the bootstrap token of DATA/node-token (``K10<sha256 of
                                     ca.crt>::ID.SECRET``), for authentication, no expiry:
                                     made at every start, put back if changed
    kube-public/cluster-info         a kubeconfig with the CA and the server URL and no
                                     credentials, readable by anyone (kubeadm's
                                     bootstrap-signer-clusterinfo Role, in the apiserver's
                                     bootstrap policy)

A joining ``km minion`` reads cluster-info without trusting the server, checks the CA's
sha256 against its token, then asks for its certificates with the token (TLS bootstrap, as
``kubeadm join`` and k3s' agent). Written by the admin client once the apiserver answers.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists
from servers.apiserver.auth import bootstrap as bt
from servers.client.resources import CONFIGMAPS, ResourceRef

if TYPE_CHECKING:
    from servers.client.rest import Client

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")
CLUSTER_INFO_NAMESPACE, CLUSTER_INFO = "kube-public", "cluster-info"
DESCRIPTION = "km all-in-one join token (DATA/node-token); delete it to stop new joins"


def token_parts(join_token: str) -> tuple[str, str]:
    """``(id, secret)`` of a ``K10<hash>::ID.SECRET`` token; ValueError for another shape."""
    parsed = bt.parse_token(join_token.strip().rpartition("::")[2])
    if parsed is None:
        msg = "the join token is not K10<sha256>::<id>.<secret>"
        raise ValueError(msg)
    return parsed


def cluster_info(ca_pem: bytes, server: str) -> Obj:
    """kubeadm's cluster-info ConfigMap: a kubeconfig with one nameless cluster."""
    import yaml

    kubeconfig: Obj = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                  "clusters": [{"name": "", "cluster": {
                      "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                      "server": server}}],
                  "contexts": None, "current-context": "", "users": None}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CLUSTER_INFO, "namespace": CLUSTER_INFO_NAMESPACE},
            "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False)}}


async def publish(client: Client, join_token: str, ca_pem: bytes, server: str) -> None:
    """Create (or put back) the token Secret and cluster-info."""
    token_id, token_secret = token_parts(join_token)
    secret = bt.make_secret(token_id, token_secret, description=DESCRIPTION)
    await _keep(client, SECRETS, bt.NAMESPACE, secret, ("type", "data"))
    await _keep(client, CONFIGMAPS, CLUSTER_INFO_NAMESPACE, cluster_info(ca_pem, server),
                ("data",))
    log.info("join: bootstrap token %s and %s/%s (server %s) published", token_id,
             CLUSTER_INFO_NAMESPACE, CLUSTER_INFO, server)


async def _keep(client: Client, resource: ResourceRef, namespace: str, wanted: Obj,
                content: tuple[str, ...]) -> None:
    name = wanted["metadata"]["name"]
    with contextlib.suppress(AlreadyExists):
        await client.create(resource, wanted, namespace)
        return
    current = await client.get(resource, name, namespace)
    if all(current.get(key) == wanted.get(key) for key in content):
        return
    current.update({key: wanted[key] for key in content})
    await client.update(resource, current)
    log.info("join: %s %s/%s put back", resource.kind, namespace, name)
