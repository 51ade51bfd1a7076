"""``POST /apis/authentication.k8s.io/v1/selfsubjectreviews``: who the server thinks you are.

What ``kubectl auth whoami`` asks (kube-apiserver 1.28+): the answer echoes the request's
authenticated user. The body sent is not needed (kube ignores all of it but metadata), so it
is not read. Listed in discovery beside tokenreviews (kubectl calls the path directly).
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/pkg/registry/authentication/selfsubjectreview/rest.go
"""

from __future__ import annotations

from aiohttp import web

from servers.apiserver import codec
from servers.apiserver.auth import ANONYMOUS_USER, USER_KEY, UserInfo

GROUP_VERSION = "authentication.k8s.io/v1"
PATH = f"/apis/{GROUP_VERSION}/selfsubjectreviews"


async def self_subject_review(request: web.Request) -> web.Response:
    user = request.get(USER_KEY)
    if not isinstance(user, UserInfo):
        user = ANONYMOUS_USER
    review = {"kind": "SelfSubjectReview", "apiVersion": GROUP_VERSION,
              "metadata": {"creationTimestamp": None},
              "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}}}
    return web.Response(body=codec.encode(review), status=201, content_type=codec.JSON)
