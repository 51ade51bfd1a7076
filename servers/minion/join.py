"""Joining a cluster with a token: Kubernetes' TLS bootstrap, with the CA pinned as k3s does.

1. Discovery, trusting nothing: GET ``kube-public/cluster-info`` anonymously over TLS
   without verifying the server (kubeadm's token discovery, ``cmd/kubeadm/app/discovery/
   token/token.go``), take the CA from its kubeconfig and check its sha256 against the
   token's hash (k3s ``pkg/clientaccess/token.go``). A mismatch ends the join in one line.
2. From then on the CA is trusted and every request verifies the server against it. With the
   bootstrap token (``system:bootstrap:<id>`` in ``system:bootstrappers``) the minion asks
   for the node's client certificate (``kubernetes.io/kube-apiserver-client-kubelet``, CN
   ``system:node:NAME``, O ``system:nodes``) and for the proxy's and dns' identity
   (``kubernetes.io/kube-apiserver-client``, CN ``system:kube-proxy``), as the kubelet's
   ``pkg/kubelet/certificate/bootstrap/bootstrap.go`` does for its own.
3. Each signed certificate, its key (0600) and a kubeconfig naming them go under the root
   dir (store.py); a restart finds them and joins no more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import TYPE_CHECKING

from servers.apimachinery.errors import NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.kubeconfig import Config
from servers.client.rest import Client
from servers.minion import certificates

if TYPE_CHECKING:
    from servers.minion.store import Store
    from servers.minion.token import Token

log = logging.getLogger(__name__)

CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
USER_AGENT = "km-minion"
CA_MISMATCH = ("the cluster CA at {server} does not match the token: its sha256 is {got}, "
               "the token pins {want}")
NO_CLUSTER_INFO = ("{server} publishes no kube-public/cluster-info ConfigMap, so the token "
                   "cannot be checked (is it a km control plane?)")
BAD_CLUSTER_INFO = "{server}'s kube-public/cluster-info holds no usable CA: {why}"
NO_ANONYMOUS = ("{server} refuses an anonymous read of kube-public/cluster-info ({error}), so "
                "the token cannot be checked")
UNREACHABLE = "cannot reach {server}: {error}"
CLIENT_ROLES = (certificates.NODE_CLIENT, certificates.PROXY_CLIENT)


class JoinError(Exception):
    """The node could not join (one line, never holding the token's secret)."""


async def discover_ca(server: str, token: Token) -> bytes:
    """The cluster CA (PEM bytes, as served) once its hash matches ``token``'s; else JoinError."""
    try:
        async with Client(Config(server=server, insecure=True), user_agent=USER_AGENT,
                          request_timeout=15.0) as anonymous:
            info = await anonymous.request("GET", CLUSTER_INFO)
    except NotFound:
        raise JoinError(NO_CLUSTER_INFO.format(server=server)) from None
    except StatusError as exc:
        text = NO_ANONYMOUS if exc.code in (401, 403) else UNREACHABLE
        raise JoinError(text.format(server=server, error=exc)) from None
    except ClientError as exc:
        raise JoinError(UNREACHABLE.format(server=server, error=exc)) from None
    ca = ca_of_cluster_info(info, server)
    if not token.pins(ca):
        raise JoinError(CA_MISMATCH.format(server=server, got=hashlib.sha256(ca).hexdigest(),
                                           want=token.ca_hash))
    return ca


def ca_of_cluster_info(info: object, server: str) -> bytes:
    """The CA bytes of a cluster-info ConfigMap (its data.kubeconfig's first cluster)."""
    import yaml

    try:
        doc = yaml.safe_load(info["data"]["kubeconfig"])  # type: ignore[index]
        data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        return base64.b64decode(data, validate=True)
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error,
            yaml.YAMLError) as exc:
        why = f"missing {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise JoinError(BAD_CLUSTER_INFO.format(server=server, why=why)) from None


async def bootstrap(store: Store, server: str, token: Token, node_name: str, *,
                    timeout: float) -> None:
    """Pin the CA, then have the node's and the proxy's client certificates signed; write
    them and their kubeconfigs under ``store``. JoinError or CertificateError on failure."""
    ca = await discover_ca(server, token)
    store.write_ca(ca)
    log.info("cluster CA at %s matches the token (sha256 %s)", server, token.ca_hash[:12])
    config = Config(server=server, ca_data=ca.decode(), token=token.bearer)
    try:
        async with Client(config, user_agent=USER_AGENT, request_timeout=15.0) as client:
            for identity in CLIENT_ROLES:
                await obtain(client, store, identity, node_name, timeout=timeout)
                store.write_kubeconfig(identity.role, server)
    except StatusError as exc:
        msg = f"the bootstrap token was refused: {exc}" if exc.code in (401, 403) else str(exc)
        raise JoinError(msg) from None
    except ClientError as exc:
        raise JoinError(UNREACHABLE.format(server=server, error=exc)) from None


async def obtain(client: Client, store: Store, identity: certificates.Identity,
                 node_name: str, *, timeout: float, sans: tuple[str, ...] = ()) -> None:
    """A new key and a certificate for ``identity``, signed through ``client``; written."""
    key_pem, csr_pem = certificates.request_pem(identity, node_name, sans)
    cert_pem = await certificates.submit(client, identity, csr_pem, timeout=timeout)
    store.write_pair(identity.role, key_pem, cert_pem)
    log.info("%s certificate signed (%s)", identity.role, identity.signer)
