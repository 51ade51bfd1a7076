"""The channel WebSocket protocol of exec, attach and port-forward (``*.channel.k8s.io``).

As apimachinery's ``pkg/util/httpstream/wsstream/doc.go`` and
``pkg/util/remotecommand/constants.go`` define it: each binary message is one channel byte
and a payload; for exec/attach channel 0 is stdin, 1 stdout, 2 stderr, 3 the error channel
(the exit Status) and 4 resize (JSON ``{"Width":W,"Height":H}``). Versions:

- ``channel.k8s.io`` (v1) and ``v2.channel.k8s.io``: the error channel carries plain text,
  sent only on failure; v2 fixes v1's stdin handling (no wire difference here);
- ``v3.channel.k8s.io`` adds the resize channel;
- ``v4.channel.k8s.io`` sends a ``metav1.Status`` JSON on the error channel, success too,
  with the exit code as a ``NonZeroExitCode`` cause (client-go ``tools/remotecommand/v4.go``);
- ``v5.channel.k8s.io`` adds CLOSE: the message ``[255, channel]`` half-closes that channel
  (kubectl sends ``[255, 0]`` at the end of its stdin).

This module is the codec only (no I/O), so the kubelet's exec/attach/port-forward handlers
and the apiserver share it.
"""

from __future__ import annotations

import json
from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255  # v5: [255, channel] closes that channel

# the order the kubelet prefers them in (kube's server picks the first it knows, by the
# client's order; aiohttp does the same)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
             "v2.channel.k8s.io", "channel.k8s.io")

NON_ZERO_EXIT = "NonZeroExitCode"  # remotecommand constants: Status reason and cause type
EXIT_CODE_CAUSE = "ExitCode"


class ChannelError(ValueError):
    """A message that breaks the channel protocol (one line, for the peer)."""


def version(protocol: str | None) -> int:
    """1 for ``channel.k8s.io`` (or no subprotocol: kube's default), N for ``vN.channel.k8s.io``."""
    if not protocol or protocol == "channel.k8s.io":
        return 1
    head, dot, tail = protocol.partition(".")
    if dot and tail == "channel.k8s.io" and head[:1] == "v" and head[1:].isdigit():
        return int(head[1:])
    msg = f"unknown channel protocol {protocol!r}"
    raise ChannelError(msg)


def encode(channel: int, data: bytes = b"") -> bytes:
    """One binary message: the channel byte, then ``data`` (empty: kube's "ready" signal)."""
    return bytes((channel,)) + data


def decode(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of one binary message."""
    if not message:
        msg = "empty channel message"
        raise ChannelError(msg)
    return message[0], message[1:]


def close(channel: int) -> bytes:
    """v5's close signal for ``channel``."""
    return bytes((CLOSE, channel))


def closed_channel(channel: int, payload: bytes) -> int | None:
    """The channel a decoded v5 CLOSE message closes, else None (not a CLOSE)."""
    if channel != CLOSE:
        return None
    if len(payload) != 1:
        msg = f"close message needs exactly one channel byte, got {len(payload)}"
        raise ChannelError(msg)
    return payload[0]


def resize(payload: bytes) -> tuple[int, int]:
    """(width, height) of a resize message (``{"Width":W,"Height":H}``, kube's TerminalSize)."""
    try:
        size = json.loads(payload)
        width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        msg = f"bad resize message {payload[:80]!r}"
        raise ChannelError(msg) from None
    if not (0 <= width < 1 << 16 and 0 <= height < 1 << 16):
        msg = f"terminal size {width}x{height} out of range"
        raise ChannelError(msg)
    return width, height


def success() -> dict[str, Any]:
    """The error channel's Status for a command that exited 0."""
    return {"metadata": {}, "status": "Success"}


def exit_failure(code: int, cmd: list[str]) -> dict[str, Any]:
    """The Status for a non-zero exit: kube's NonZeroExitCode with the code as its cause
    (kubelet ``pkg/kubelet/cri/streaming/remotecommand/exec.go``; the message wraps the
    runtime's error, as containerd words it)."""
    return {"metadata": {}, "status": "Failure",
            "message": (f"command terminated with non-zero exit code: error executing "
                        f"command {_go_list(cmd)}, exit code {code}"),
            "reason": NON_ZERO_EXIT,
            "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]}}


def internal_error(text: str) -> dict[str, Any]:
    """apimachinery's ``NewInternalError``: what the kubelet sends when the command could not
    be run at all (kubectl prints the message and exits 1)."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {text}",
            "reason": "InternalError", "details": {"causes": [{"message": text}]},
            "code": 500}


def status_payload(proto_version: int, status: dict[str, Any]) -> bytes | None:
    """What goes on the error channel for ``status``: JSON from v4 on; before, the message
    text of a failure and nothing for success (kube's ``v1WriteStatus``)."""
    if proto_version >= 4:
        return json.dumps(status, separators=(",", ":")).encode()
    if status.get("status") == "Success":
        return None
    return str(status.get("message", "")).encode()


def _go_list(words: list[str]) -> str:
    """A string slice as Go's %v prints it: ``[sh -c exit 3]``."""
    return "[" + " ".join(words) + "]"
