"""coordination.k8s.io/v1 Lease: MicroTime normalising and ``ValidateLease``.

A Lease is a heartbeat (one per node in ``kube-node-lease``, renewed by the kubelet) or a
leader-election lock (``kube-scheduler`` in ``kube-system``). Rules and messages follow
k8s.io/kubernetes pkg/apis/coordination/validation/validation.go at v1.32; times are written
back as Go's ``metav1.MicroTime`` marshals them (UTC, six fraction digits).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from servers.apimachinery import errors, field, validation
from servers.apimachinery.field import Cause
from servers.apimachinery.meta import parse_rfc3339
from servers.apiserver.kinds._common import Obj, as_dict

GROUP = "coordination.k8s.io"
NODE_LEASE_NAMESPACE = "kube-node-lease"
OLDEST_EMULATION_VERSION = "OldestEmulationVersion"
MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"  # Go's RFC3339Micro, for messages
TIMES = ("acquireTime", "renewTime")


def format_micro(moment: datetime) -> str:
    """``metav1.MicroTime`` on the wire: ``2024-05-01T10:00:00.123456Z``."""
    moment = moment.astimezone(timezone.utc)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z")


def _micro(value: Any) -> str:
    try:
        return format_micro(parse_rfc3339(str(value)))
    except ValueError:
        msg = (f'Lease in version "v1" cannot be handled as a Lease: parsing time "{value}" as '
               f'"{MICRO_LAYOUT}": cannot parse "{value}" as an RFC 3339 time')
        raise errors.BadRequest(msg) from None


def default(lease: Obj, old: Obj | None = None) -> None:
    """Rewrite ``acquireTime``/``renewTime`` as MicroTimes (400 when they are no time)."""
    spec = lease.get("spec")
    if not isinstance(spec, dict):
        return
    for member in TIMES:
        if isinstance(spec.get(member), str):
            spec[member] = _micro(spec[member])


def _strategy(value: str, path: str) -> list[Cause]:
    parts = value.split("/")
    if len(parts) == 1:
        if value != OLDEST_EMULATION_VERSION:
            return [field.not_supported(path, value, [OLDEST_EMULATION_VERSION])]
        return []
    if len(parts) == 2:
        return [field.invalid(path, value, m) for m in validation.is_qualified_name(value)]
    return [field.invalid(path, value, "must be a valid strategy name")]


def validate(lease: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateLeaseSpec``: a positive duration, non-negative transitions, a known strategy,
    and ``preferredHolder`` only together with ``strategy``."""
    spec = as_dict(lease.get("spec"))
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        causes.append(field.invalid("spec.leaseDurationSeconds", duration,
                                    "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        causes.append(field.invalid("spec.leaseTransitions", transitions,
                                    "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy:
        causes += _strategy(str(strategy), "spec.strategy")
    if spec.get("preferredHolder") and not strategy:
        causes.append(field.forbidden("spec.preferredHolder",
                                      "may only be specified if `strategy` is defined"))
    return causes
