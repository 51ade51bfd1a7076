"""What the door costs: pod creates over plain HTTP, against HTTPS with a bearer token,
with and without RBAC.

    python bench/door.py [--km dist/km.pyz] [--seconds 8] [--rounds 3]

The same load as bench/api.py (wrk -t1, bench/create.lua) at 16 and 64 connections against
three servers started from the built km.pyz:
- plain: plain HTTP, --authorization-mode AlwaysAllow (bench/api.py's figure);
- tls+token: HTTPS (`km certs`), a bearer token (--token-auth-file), AlwaysAllow;
- tls+token+rbac: as tls+token with --authorization-mode RBAC; the user is not in
  system:masters but bound to the `edit` ClusterRole in the namespace by a RoleBinding, so
  every create walks the RBAC rules.
Cells run interleaved (plain, tls, rbac, plain, ...) and each figure is the median of the
rounds, so load from elsewhere on the machine hits every row alike. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import wrk  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402
from tests.support.pki import call, make_certs  # noqa: E402

CONCURRENCY = (16, 64)
TOKEN = "bench-token-5d1c"
NAMESPACE = "bench-door"
TARGET = 0.25


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    opts = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp), opts)
    print_tables(results, opts)
    return 0


def run_all(tmp: Path, opts: argparse.Namespace) -> dict[str, dict[int, list[dict]]]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp / "cache")}
    pki = make_certs(tmp / "pki", km=opts.km, env=env)
    tokens = tmp / "tokens.csv"
    tokens.write_text(f'{TOKEN},bench-user,uid-bench,"bench-group"\n')
    tokens.chmod(0o600)
    secure = ["--tls-cert-file", str(pki / "apiserver.crt"),
              "--tls-private-key-file", str(pki / "apiserver.key"),
              "--client-ca-file", str(pki / "ca.crt"), "--token-auth-file", str(tokens)]
    setups = {
        "plain HTTP, AlwaysAllow": (False, []),
        "HTTPS + token, AlwaysAllow": (True, secure),
        "HTTPS + token + RBAC (edit via RoleBinding)":
            (True, [*secure, "--authorization-mode", "RBAC"]),
    }
    results: dict[str, dict[int, list[dict]]] = {n: {c: [] for c in CONCURRENCY} for n in setups}
    with contextlib.ExitStack() as stack:
        servers = {}
        for i, (name, (is_secure, args)) in enumerate(setups.items()):
            servers[name] = api = stack.enter_context(start_apiserver(
                tmp / f"data-{i}", km=opts.km, env=env, secure=is_secure, extra_args=args))
            prepare(api.url, pki / "ca.crt", is_secure, pki)
        auth = ["-H", f"Authorization: Bearer {TOKEN}"]
        for _ in range(opts.rounds):  # interleaved: plain, tls, rbac, plain, ...
            for c in CONCURRENCY:
                for name, api in servers.items():
                    results[name][c].append(
                        wrk(f"{api.url}/api/v1/namespaces/{NAMESPACE}/pods", c, opts.seconds,
                            "create.lua", uuid.uuid4().hex[:8],
                            wrk_args=auth if setups[name][0] else ()))
    return results


def prepare(url: str, ca: Path, is_secure: bool, pki: Path) -> None:
    """The namespace, and a RoleBinding of `edit` in it for the bench user (as an admin)."""
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "bench-edit"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "edit"},
               "subjects": [{"kind": "User", "name": "bench-user",
                             "apiGroup": "rbac.authorization.k8s.io"}]}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    if is_secure:
        admin = (pki / "admin.crt", pki / "admin.key")
        for path, body in (("/api/v1/namespaces", ns),
                           (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
                            "/rolebindings", binding)):
            status, answer = call(url, ca, "POST", path, body, cert=admin)
            if status != 201:
                raise SystemExit(f"bench: {path}: {status} {answer}")
    else:
        import urllib.request
        req = urllib.request.Request(f"{url}/api/v1/namespaces", method="POST",
                                     data=json.dumps(ns).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).close()


def median(cells: list[dict], key: str) -> float:
    return statistics.median(cell[key] for cell in cells)


def print_tables(results: dict[str, dict[int, list[dict]]], opts: argparse.Namespace) -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, wrk -t1, "
          f"{opts.seconds} s per cell, median of {opts.rounds} interleaved rounds\n")
    print("| durable pod creates | " + " | ".join(f"{c} conn: /s (p50, p99 ms)"
                                                 for c in CONCURRENCY) + " |")
    print("|---|" + "---:|" * len(CONCURRENCY))
    for name, by_c in results.items():
        cells = []
        for c in CONCURRENCY:
            bad = sum(cell["non2xx"] + cell["errors"] for cell in by_c[c])
            extra = f", {bad:.0f} non-2xx/errors" if bad else ""
            cells.append(f"{median(by_c[c], 'per_second'):.0f} "
                         f"({median(by_c[c], 'p50_ms'):.1f}, {median(by_c[c], 'p99_ms'):.1f}"
                         f"{extra})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    plain, *_, door = results.values()
    print()
    for c in CONCURRENCY:
        cost = 1 - median(door[c], "per_second") / median(plain[c], "per_second")
        verdict = "met" if cost < TARGET else "missed"
        print(f"door cost at {c} connections: {cost:.0%} of throughput "
              f"(target < {TARGET:.0%}: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
