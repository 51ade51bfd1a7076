"""The kubelet's /portForward/{namespace}/{pod}: TCP into a pod's network, three ways.

- SPDY/3.1 tunnelled in a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``, what
  kubectl 1.32 sends and km's apiserver relays message for message): ``tunnel``;
- the same SPDY over a plain upgraded connection (``POST``, ``Upgrade: SPDY/3.1``,
  ``X-Stream-Protocol-Version: portforward.k8s.io``, kubectl's fallback): ``upgrade``;
  both carry one session whose error/data stream pairs ``httpstream`` forwards, as kube's
  ``pkg/kubelet/cri/streaming/portforward/httpstream.go`` does;
- the channel WebSocket (``v4.channel.k8s.io``, ``v4.base64.channel.k8s.io``,
  ``portforward.k8s.io`` or none) with ``?port=80,8080`` (kube's name, what the apiserver
  sends) or ``?ports=`` (the Python client's, km's relay contract): ``channels``, as kube's
  ``websocket.go``.

``routes`` finds the pod and picks the transport; ``podport`` dials the pod's port (inside its
network namespace) and copies both ways; ``connection`` holds what the transports share: the
subprotocol names and how a connection ends (kubelet shutdown; no frame either way for
``--streaming-connection-idle-timeout``, idle.py: spdystream's idle-aware framer resets on
every frame read or written, so does km on every message).
"""

from __future__ import annotations

from servers.kubelet.portforward.routes import add_routes

__all__ = ["add_routes"]
