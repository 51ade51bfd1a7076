"""Flags every km control-plane server shares, in kube's spelling (standard library only).

    parser = argparse.ArgumentParser()
    add_client_flags(parser)                                  # --kubeconfig, --master
    add_leader_election_flags(parser, resource_name="kube-scheduler")
    add_serving_flags(parser, default_port=10259)             # --secure-port, --bind-address ...
    opts = parser.parse_args(argv)
    validate_leader_election(opts)                            # OptionsError: one line, exit 1

Durations are Go's (``time.ParseDuration``): ``15s``, ``1m30s``, ``500ms``, ``168h``, ``0``;
``duration`` is the argparse ``type=`` and returns seconds as a float. Booleans are Go's
``strconv.ParseBool`` (``--leader-elect=false``), as kube's pflag flags accept them.
"""

from __future__ import annotations

import argparse
import os

__all__ = [
    "DEFAULT_ALWAYS_ALLOW_PATHS", "OptionsError", "add_client_flags",
    "add_leader_election_flags", "add_serving_flags", "boolean", "duration",
    "format_duration", "make_dir", "parse_duration", "validate_leader_election",
]

# k8s.io/component-base/config/v1alpha1/defaults.go RecommendedDefaultLeaderElectionConfiguration
DEFAULT_LEASE_DURATION = 15.0
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0
RESOURCE_LOCKS = ("leases",)
# k8s.io/apiserver/pkg/server/options/authorization.go: AlwaysAllowPaths default.
DEFAULT_ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")
# client-go leaderelection.JitterFactor: the renew deadline must outlast a jittered retry.
JITTER_FACTOR = 1.2

# Go's time.ParseDuration units, in nanoseconds (both micro signs included).
_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_MAX_NS = (1 << 63) - 1
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


class OptionsError(ValueError):
    """Flags that parse but do not go together (one line; the boundary exits 1)."""


# -- values -----------------------------------------------------------------------------------

def parse_duration(text: str) -> float:
    """Seconds from a Go duration string; ``ValueError`` with Go's message otherwise.

    The grammar is Go's: an optional sign, then one or more decimal numbers each with a unit
    (``ns us µs ms s m h``), e.g. ``-1.5h``, ``2h45m``, ``300ms``; ``0`` alone needs no unit.
    See https://github.com/golang/go/blob/go1.22.0/src/time/format.go#L1602 (ParseDuration).
    """
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0  # nanoseconds, exact
    while rest:
        nanos, rest = _duration_term(rest, text)
        total += nanos
        if total > _MAX_NS:
            raise ValueError(f'time: invalid duration "{text}"')
    return (-total if negative else total) / 1e9


def _duration_term(rest: str, text: str) -> tuple[int, str]:
    """One ``<number><unit>`` from the front of ``rest``: its nanoseconds and what follows."""
    i = 0
    while i < len(rest) and rest[i].isascii() and rest[i].isdigit():
        i += 1
    whole, rest = rest[:i], rest[i:]
    fraction = ""
    if rest[:1] == ".":
        i = 1
        while i < len(rest) and rest[i].isascii() and rest[i].isdigit():
            i += 1
        fraction, rest = rest[1:i], rest[i:]
    if not whole and not fraction:
        raise ValueError(f'time: invalid duration "{text}"')
    i = 0
    while i < len(rest) and rest[i] != "." and not (rest[i].isascii() and rest[i].isdigit()):
        i += 1
    unit, rest = rest[:i], rest[i:]
    if not unit:
        raise ValueError(f'time: missing unit in duration "{text}"')
    scale = _UNITS.get(unit)
    if scale is None:
        raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
    nanos = int(whole or "0") * scale
    if fraction:
        # Go truncates digits beyond nanosecond precision; so does integer division here.
        nanos += int(fraction) * scale // 10 ** len(fraction)
    return nanos, rest


def duration(text: str) -> float:
    """argparse ``type=``: a non-negative Go duration, in seconds."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f'must not be negative: "{text}"')
    return seconds


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String()``: ``15s``, ``1m30s``, ``500ms``, ``168h0m0s``, ``0s``."""
    nanos = round(seconds * 1e9)
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if nanos >= scale:
                return sign + _decimal(nanos, scale) + unit
    hours, nanos = divmod(nanos, 3_600_000_000_000)
    minutes, nanos = divmod(nanos, 60_000_000_000)
    text = _decimal(nanos, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, scale: int) -> str:
    whole, part = divmod(value, scale)
    if not part:
        return str(whole)
    digits = str(part).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def boolean(text: str) -> bool:
    """argparse ``type=``: Go's ``strconv.ParseBool`` (``true``, ``false``, ``1``, ``0``, ...)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}" (true or false)')


def _paths(text: str) -> list[str]:
    paths = [p.strip() for p in text.split(",") if p.strip()]
    for path in paths:
        if not path.startswith("/"):
            raise argparse.ArgumentTypeError(f'path "{path}" must begin with "/"')
    return paths


# -- flag groups ------------------------------------------------------------------------------

def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--master``: how the server reaches the apiserver."""
    group = parser.add_argument_group("apiserver connection")
    group.add_argument(
        "--kubeconfig", metavar="FILE",
        help="kubeconfig with the apiserver's address and this server's credentials")
    group.add_argument(
        "--master", metavar="URL",
        help="the apiserver's URL; overrides the server in --kubeconfig (plain http for "
        "a loopback apiserver, e.g. http://127.0.0.1:8080)")


def add_leader_election_flags(parser: argparse.ArgumentParser, *, resource_name: str,
                              resource_namespace: str = "kube-system") -> None:
    """kube's ``--leader-elect*`` flags with component-base's defaults."""
    group = parser.add_argument_group("leader election")
    group.add_argument(
        "--leader-elect", type=boolean, nargs="?", const=True, default=True,
        metavar="true|false",
        help="run only while holding the leader lease, so several copies can stand by "
        "(default: true)")
    group.add_argument(
        "--leader-elect-lease-duration", type=duration, default=DEFAULT_LEASE_DURATION,
        metavar="DURATION",
        help="how long a standby waits after the last renewal it saw before taking the "
        f"lease (default: {format_duration(DEFAULT_LEASE_DURATION)})")
    group.add_argument(
        "--leader-elect-renew-deadline", type=duration, default=DEFAULT_RENEW_DEADLINE,
        metavar="DURATION",
        help="how long the leader keeps trying to renew before it gives up leading "
        f"(default: {format_duration(DEFAULT_RENEW_DEADLINE)})")
    group.add_argument(
        "--leader-elect-retry-period", type=duration, default=DEFAULT_RETRY_PERIOD,
        metavar="DURATION",
        help="how often to try to take or renew the lease "
        f"(default: {format_duration(DEFAULT_RETRY_PERIOD)})")
    group.add_argument(
        "--leader-elect-resource-lock", choices=RESOURCE_LOCKS, default=RESOURCE_LOCKS[0],
        help="the kind of lock object (default: %(default)s)")
    group.add_argument(
        "--leader-elect-resource-name", default=resource_name, metavar="NAME",
        help="name of the Lease (default: %(default)s)")
    group.add_argument(
        "--leader-elect-resource-namespace", default=resource_namespace, metavar="NAMESPACE",
        help="namespace of the Lease (default: %(default)s)")
    group.add_argument(
        "--leader-elect-identity", default="", metavar="ID",
        help="this candidate's holderIdentity (default: HOSTNAME_UUID, new at each start)")


def add_serving_flags(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """``--secure-port`` and friends: HTTPS for /healthz and /metrics, as kube's servers."""
    group = parser.add_argument_group("secure serving (/healthz, /metrics)")
    group.add_argument(
        "--secure-port", type=port, default=default_port, metavar="PORT",
        help="HTTPS port for /healthz and /metrics; 0 serves nothing (default: %(default)s)")
    group.add_argument(
        "--bind-address", default="0.0.0.0", metavar="IP",
        help="address to serve on (default: %(default)s)")
    group.add_argument(
        "--tls-cert-file", metavar="FILE",
        help="serving certificate (PEM); without it a self-signed one is made at start")
    group.add_argument(
        "--tls-private-key-file", metavar="FILE", help="the private key of --tls-cert-file")
    group.add_argument(
        "--client-ca-file", metavar="FILE",
        help="client certificates signed by this CA authenticate for /metrics: CN is the "
        "user, O the groups")
    group.add_argument(
        "--authorization-always-allow-paths", type=_paths,
        default=list(DEFAULT_ALWAYS_ALLOW_PATHS), metavar="PATH[,PATH...]",
        help="paths served without authentication or authorization "
        f"(default: {','.join(DEFAULT_ALWAYS_ALLOW_PATHS)})")


def port(text: str) -> int:
    """argparse type: a TCP/UDP port, 0 to 65535 (0: off, or any free port)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid port "{text}"') from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port {number} must be between 0 and 65535")
    return number


def nonnegative(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid number "{text}"') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def positive(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    value = nonnegative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def labels(text: str) -> dict[str, str]:
    """argparse type: ``k=v,k2=v2`` as the kubelet's ``--node-labels`` takes it (values may
    be empty)."""
    found: dict[str, str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f'invalid label "{item}": want KEY=VALUE')
        found[key] = value
    return found


# -- checks argparse cannot make --------------------------------------------------------------

def validate_leader_election(opts: argparse.Namespace) -> None:
    """Raise ``OptionsError`` for leader-election flags that cannot work together.

    The rules of client-go's ``NewLeaderElector`` (``leaderelection.go``): every period
    positive, leaseDuration > renewDeadline > JitterFactor * retryPeriod.
    """
    if not getattr(opts, "leader_elect", False):
        return
    lease = opts.leader_elect_lease_duration
    renew = opts.leader_elect_renew_deadline
    retry = opts.leader_elect_retry_period
    for flag, value in (("lease-duration", lease), ("renew-deadline", renew),
                        ("retry-period", retry)):
        if value <= 0:
            raise OptionsError(f"--leader-elect-{flag} must be greater than zero")
    if lease <= renew:
        raise OptionsError("--leader-elect-lease-duration must be greater than "
                           "--leader-elect-renew-deadline")
    if renew <= JITTER_FACTOR * retry:
        raise OptionsError("--leader-elect-renew-deadline must be greater than "
                           f"--leader-elect-retry-period*{JITTER_FACTOR}")
    if not opts.leader_elect_resource_name or not opts.leader_elect_resource_namespace:
        raise OptionsError("--leader-elect-resource-name and --leader-elect-resource-namespace "
                           "must not be empty")


def make_dir(path: str | os.PathLike[str], flag: str, mode: int = 0o777) -> None:
    """Make the folder ``flag`` names, parents too; ``OptionsError`` in one line when it
    cannot be (``cannot use --data-dir /etc/passwd: not a directory``)."""
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        msg = f"cannot use {flag} {os.fspath(path)}: not a directory"
        raise OptionsError(msg) from None
    except OSError as exc:
        msg = f"cannot use {flag} {os.fspath(path)}: {exc.strerror or exc}"
        raise OptionsError(msg) from None
