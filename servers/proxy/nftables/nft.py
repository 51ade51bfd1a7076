"""Talk to nftables through ``nft -j``: JSON in, JSON out, never parsed text.

    await apply(document)                 # one atomic transaction, or NftError (one line)
    tables = await list_tables()

``nft -j -f -`` applies a whole JSON document as one netlink batch: every command or none.
"""

from __future__ import annotations

import json
from typing import Any

from servers.kubelet.linux import command
from servers.kubelet.runtime.errors import CommandFailed, RuntimeUnavailable

__all__ = ["NftError", "apply", "delete_table", "list_ruleset", "nft_path"]

TIMEOUT = 60.0


class NftError(RuntimeError):
    """nft refused a transaction or could not run (one line)."""


def nft_path() -> str:
    try:
        return command.find_program("nft", "nftables")
    except RuntimeUnavailable as exc:
        raise NftError(str(exc)) from None


async def apply(document: dict[str, Any]) -> None:
    """Apply ``document`` (``{"nftables": [...]}``) in one transaction."""
    data = json.dumps(document, separators=(",", ":")).encode()
    try:
        await command.run([nft_path(), "-j", "-f", "-"], stdin=data, timeout=TIMEOUT)
    except CommandFailed as exc:
        raise NftError(str(exc)) from None


async def list_ruleset(family: str, table: str) -> list[dict[str, Any]]:
    """The table's objects as nft's JSON lists them ([] when the table does not exist)."""
    code, out, _ = await command.run([nft_path(), "-j", "list", "table", family, table],
                                     check=False, timeout=TIMEOUT)
    if code != 0:
        return []
    return list(json.loads(out).get("nftables", []))


async def delete_table(family: str, table: str) -> bool:
    """Remove the table if it exists; whether it did."""
    document = {"nftables": [{"add": {"table": {"family": family, "name": table}}},
                             {"delete": {"table": {"family": family, "name": table}}}]}
    await apply(document)
    return True
