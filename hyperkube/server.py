"""`Server`: one server of a multi-call program, as plain data.

A server is its name, its aliases, its help texts, a function that adds its flags to an
`argparse` parser, and the "module:function" of its async runner. Registering one imports and
runs nothing: the runner's module is imported only when that server is chosen, so
`km --help` stays as cheap as the standard library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Awaitable
    from typing import Any

    Runner = Callable[[argparse.Namespace, asyncio.Event], Awaitable[int | None]]

FlagAdder = Callable[["argparse.ArgumentParser"], None]


def _no_flags(parser: argparse.ArgumentParser) -> None:
    """Servers without flags of their own still get the framework's base flags."""


class Server:
    """One server: `run` names `async def run(opts, stop) -> int` as "module:function".

    (A plain class, not a dataclass: importing dataclasses would cost `km --help` a third of
    its own start-up.)
    """

    __slots__ = ("add_flags", "aliases", "long", "name", "run", "usage")

    def __init__(
        self,
        name: str,
        run: str,
        usage: str,
        long: str = "",
        aliases: tuple[str, ...] = (),
        add_flags: FlagAdder = _no_flags,
    ) -> None:
        self.name = name
        self.run = run
        self.usage = usage
        self.long = long
        self.aliases = tuple(aliases)
        self.add_flags = add_flags

    def __repr__(self) -> str:
        return f"Server({self.name!r}, run={self.run!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def make_parser(
        self, prog: str | None = None, *, add_help: bool = True
    ) -> argparse.ArgumentParser:
        """Build (never parse) this server's parser: its flags plus the framework's base flags.

        The dispatcher, `--help`, man pages and shell completion all use this one parser, so
        they cannot drift apart.
        """
        import argparse

        parser = argparse.ArgumentParser(
            prog=prog or self.name,
            description=self.long or self.usage,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=add_help,
            allow_abbrev=False,
        )
        self.add_flags(parser)
        add_base_flags(parser)
        return parser

    def load_runner(self) -> Runner:
        """Import the runner's module now, and return the runner."""
        module_name, _, attr = self.run.partition(":")
        runner: Any = getattr(importlib.import_module(module_name), attr)
        return runner  # type: ignore[no-any-return]


def add_base_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every server has: klog-style verbosity and the log format."""
    group = parser.add_argument_group("logging flags (every server has these)")
    group.add_argument(
        "-v", "--v", dest="verbosity", type=int, default=0, metavar="N",
        help="log verbosity, as klog: 0 info, 4 debug with tracebacks on errors, 5+ traces",
    )
    group.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="format of log lines on stderr (default: %(default)s)",
    )
