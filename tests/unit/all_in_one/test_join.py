"""What the all-in-one publishes for joining hosts: the token's parts, cluster-info's shape."""

from __future__ import annotations

import base64
import re

import pytest
import yaml

from servers.all_in_one import join


def test_the_join_token_gives_the_bootstrap_token_id_and_secret() -> None:
    assert join.token_parts("K10" + "a" * 64 + "::abcdef.0123456789abcdef\n") == (
        "abcdef", "0123456789abcdef")


@pytest.mark.parametrize("token", ["", "K10abc::short", "K10abc::ABCDEF.0123456789abcdef"])
def test_another_shape_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match=re.escape("K10<sha256>::<id>.<secret>")):
        join.token_parts(token)


def test_cluster_info_is_kubeadms_nameless_cluster_with_the_ca_bytes() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    cm = join.cluster_info(ca, "https://10.0.0.1:6443")
    assert (cm["metadata"]["namespace"], cm["metadata"]["name"]) == ("kube-public",
                                                                     "cluster-info")
    doc = yaml.safe_load(cm["data"]["kubeconfig"])
    (cluster,) = doc["clusters"]
    assert cluster["name"] == "" and doc["users"] is None
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == ca
    assert cluster["cluster"]["server"] == "https://10.0.0.1:6443"
