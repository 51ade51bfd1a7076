"""SPDY/3.1, as much as kube's port-forward speaks: the frames, their codec and an asyncio
session.

kubectl 1.32 port-forwards over SPDY/3.1 (moby/spdystream under apimachinery's
``pkg/util/httpstream/spdy``), either tunnelled in binary WebSocket messages
(``SPDY/3.1+portforward.k8s.io``, client-go ``tools/portforward/tunneling_connection.go``) or
over a plain upgraded connection. Hence a transport-agnostic session. The layers, each using
only those above it:

- ``frames``: the protocol's numbers and one dataclass per frame (ProtocolError);
- ``headers``: header blocks, compressed with zlib and the spec's dictionary;
- ``codec``: ``encode`` and ``FrameReader``, frames to bytes and back;
- ``stream``: one stream's buffers, reads, writes and resets (StreamClosed);
- ``session``: the connection, its stream table and flow-control windows.

This package's face is what a user of a session needs (below); the codec's tests and
anything frame-level import the layer modules.

spdy-py (PyPI, 0.2.0, 2021) was judged and not used: a frame reader only (no writer, session,
flow control or tests), unmaintained since its first year.
"""

from __future__ import annotations

from servers.streaming.spdy.frames import HeaderBlock, ProtocolError, header
from servers.streaming.spdy.session import Session
from servers.streaming.spdy.stream import Stream, StreamClosed

__all__ = ["HeaderBlock", "ProtocolError", "Session", "Stream", "StreamClosed", "header"]
