"""The whole program as one argparse tree: every server a sub-command, for documents only.

Man pages (manpage.py) and shell completion (completion.py) walk this tree; dispatch never
parses with it (see `HyperKube.run`). Every server's part comes from that server's own
`make_parser`, so the documents cannot drift from behaviour.

`Program` is what these documents need of a program (its name, texts and servers), so that
this module, completion and manpage depend on `server` only, never on `hyperkube.hyperkube`:
imports in this package run one way (see tests/unit/hyperkube/test_layout.py).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Protocol

    from hyperkube.server import Server

    class Program(Protocol):
        """A multi-call program as documents see it (`HyperKube` is one)."""

        @property
        def name(self) -> str: ...
        @property
        def long(self) -> str: ...
        @property
        def short(self) -> str: ...
        @property
        def servers(self) -> Sequence[Server]: ...


def tree_parser(hk: Program) -> argparse.ArgumentParser:
    """One parser holding every server of `hk` as a sub-command (man pages, completion)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=hk.name, description=hk.long,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version stamp")
    parser.add_argument("--list", action="store_true", help="print server names, one a line")
    parser.add_argument("--list-full", action="store_true",
                        help="print each server's name with its aliases")
    parser.add_argument("--make-symlinks", metavar="DIR", nargs="?", const="",
                        help="link every server name and alias to this file (default: its folder)")
    parser.add_argument("--force", action="store_true",
                        help="with --make-symlinks: replace what is in the way")
    subs = parser.add_subparsers(dest="server", metavar="SERVER", title="servers")
    for server in hk.servers:
        subs.add_parser(
            server.name, aliases=list(server.aliases), help=server.usage,
            description=server.long or server.usage, add_help=True,
            parents=[server.make_parser(f"{hk.name} {server.name}", add_help=False)],
            formatter_class=argparse.RawDescriptionHelpFormatter)
    completion = subs.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"))
    return parser
