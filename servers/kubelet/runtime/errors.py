"""Errors of the node runtime (``servers.kubelet.runtime``).

* RuntimeFailure                  base: a runtime operation failed (one-line message)
  x RuntimeUnavailable            runc/conmon/ip missing, or the isolation needs root
  x NotFound                      no such sandbox or container
  x InvalidConfig                 a sandbox or container config the runtime refuses
  x CommandFailed                 a helper program (runc, ip, conmon) exited non-zero
  x ExecTimeout                   exec_sync's command outlived its timeout
  x ExecFailed                    an exec's command could not be started

Library code raises these; the kubelet (or hyperkube's boundary) renders the message.
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    """A runtime operation failed; ``str(exc)`` is one line for the user."""


class RuntimeUnavailable(RuntimeFailure):
    """The host cannot run this isolation (missing package, not root)."""


class NotFound(RuntimeFailure):
    """No sandbox or container with that id."""


class InvalidConfig(RuntimeFailure):
    """The config asks for something the runtime refuses."""


class CommandFailed(RuntimeFailure):
    """A helper program exited non-zero; the message carries its last stderr line."""


class ExecTimeout(RuntimeFailure):
    """exec_sync's command was killed after its timeout."""


class ExecFailed(RuntimeFailure):
    """An exec's command could not be started (not found, not executable)."""
