"""`HyperKube`: many servers in one program, picked by `argv[1]` or by the name it runs under.

`run(argv) -> int` is the whole command line in one place and never exits; `run_to_exit` is
the one `sys.exit`. Dispatch, in the order it is decided:

1. The basename of argv[0] (leading "-" and a ".pyz" suffix stripped) names a server or
   alias: that server runs with argv[1:] (busybox style, for links such as kube-scheduler).
2. The basename starts with the program's own name ("km", "km.pyz", "km-1.2.pyz"): argv[1]
   is a server or one of the dispatcher's own words (help, version, completion, --list, ...).
3. Anything else is a link whose name is no server: exit 127, as a shell does.
"""

from __future__ import annotations

import contextlib
import os
import sys

from hyperkube import messages as msg
from hyperkube import stamp

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import TextIO

    from hyperkube.server import Server

# The help, version and list paths import nothing beyond this (os, sys, contextlib): argparse,
# logging and difflib are imported where they are needed.


class UsageError(Exception):
    """A command line the dispatcher cannot act on (exit 2)."""


class HyperKube:
    """A multi-call program: a name, a long description and the servers it holds."""

    def __init__(
        self,
        name: str,
        long: str = "",
        *,
        short: str = "",
        out: TextIO | None = None,
        err: TextIO | None = None,
        log_roots: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.long = long
        self.short = short or name
        self.servers: list[Server] = []
        self._out = out
        self._err = err
        self.log_roots = (name, "hyperkube", *log_roots)

    # The streams are looked up at use, so that redirecting sys.stdout (pytest's capsys)
    # works for a HyperKube built before the redirect.
    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def add_server(self, server: Server) -> None:
        """Register a server. Nothing runs, binds or reads files."""
        taken = {n for s in self.servers for n in s.names}
        clash = taken.intersection(server.names)
        if clash:
            raise ValueError(f"server name already taken: {', '.join(sorted(clash))}")
        self.servers.append(server)

    def find_server(self, name: str) -> Server | None:
        return next((s for s in self.servers if name in s.names), None)

    def run_to_exit(self, argv: Sequence[str] | None = None) -> None:
        sys.exit(self.run(argv))

    def run(self, argv: Sequence[str] | None = None) -> int:
        """Run the command line `argv` (argv[0] included) and return the exit code."""
        argv = list(sys.argv if argv is None else argv)
        invoked = program_name(argv[0] if argv else self.name)
        server = self.find_server(invoked)
        if server is not None:
            return self.run_server(server, argv[1:], prog=invoked)
        if invoked.startswith(self.name):
            return self._dispatch(argv[1:])
        self._say_err(msg.SERVER_NOT_FOUND.format(name=invoked))
        self._say_err(msg.AVAILABLE_SERVERS.format(names=self._name_list()))
        return msg.EXIT_NOT_FOUND

    # -- the dispatcher's own words ---------------------------------------------------------

    def _dispatch(self, args: list[str]) -> int:
        try:
            return self._dispatch_or_raise(args)
        except UsageError as exc:
            self._say_err(msg.PROG_ERROR.format(prog=self.name, error=exc))
            self._say_err(msg.RUN_HELP.format(prog=self.name))
            return msg.EXIT_USAGE

    def _dispatch_or_raise(self, args: list[str]) -> int:  # noqa: C901 - one flat table
        if not args:
            self._say_err(msg.PROG_ERROR.format(prog=self.name, error=msg.NO_SERVER))
            self.err.write(self.usage())
            return msg.EXIT_USAGE
        word, rest = args[0], args[1:]
        if word in ("-h", "--help", "help"):
            return self._help(rest)
        if word in ("--version", "version"):
            self._say(self.version_line())
            return msg.EXIT_OK
        if word == "--list":
            self._say("\n".join(self._names()) if self.servers else "")
            return msg.EXIT_OK
        if word == "--list-full":
            for server in self.servers:
                self._say("\t".join(server.names))
            return msg.EXIT_OK
        if word == "--make-symlinks":
            return self._make_symlinks(rest)
        if word == "completion":
            return self._completion(rest)
        if word.startswith("-"):
            raise UsageError(msg.UNKNOWN_OPTION.format(option=word))
        server = self.find_server(word)
        if server is None:
            raise UsageError(self._unknown_server(word))
        return self.run_server(server, rest, prog=f"{self.name} {server.name}")

    def _help(self, rest: list[str]) -> int:
        if not rest:
            self.out.write(self.help_text())
            return msg.EXIT_OK
        server = self.find_server(rest[0])
        if server is None:
            raise UsageError(self._unknown_server(rest[0]))
        self.out.write(server.make_parser(f"{self.name} {server.name}").format_help())
        return msg.EXIT_OK

    def _unknown_server(self, name: str) -> str:
        import difflib

        text = msg.UNKNOWN_SERVER.format(name=name)
        close = difflib.get_close_matches(name, self._all_names(), n=1, cutoff=0.6)
        if close:
            text += "\n" + msg.DID_YOU_MEAN.format(name=close[0])
        return text

    def _make_symlinks(self, rest: list[str]) -> int:
        from hyperkube import symlinks

        force = "--force" in rest
        dirs = [a for a in rest if a != "--force"]
        bad = [a for a in dirs if a.startswith("-")]
        if bad or len(dirs) > 1:
            raise UsageError(msg.UNKNOWN_OPTION.format(option=(bad or dirs)[-1]))
        target = self.executable()
        directory = dirs[0] if dirs else os.path.dirname(target)
        report = symlinks.make_links(directory, target, self._all_names(), force=force)
        for line in report.done:
            self._say(line)
        for line in report.left:
            self._say_err(msg.PROG_WARNING.format(prog=self.name, warning=line))
        if report.left:
            self._say_err(msg.PROG_ERROR.format(
                prog=self.name, error=msg.LINKS_LEFT.format(count=len(report.left))))
            return msg.EXIT_FAILURE
        return msg.EXIT_OK

    def _completion(self, rest: list[str]) -> int:
        from hyperkube import completion

        if len(rest) != 1:
            raise UsageError(msg.MISSING_ARGUMENT.format(
                option="completion", what="one shell: " + ", ".join(completion.SHELLS)))
        try:
            self.out.write(completion.script(self, rest[0]))
        except completion.CompletionError as exc:
            self._say_err(msg.PROG_ERROR.format(prog=self.name, error=exc))
            return msg.EXIT_USAGE if isinstance(exc, completion.UnknownShell) else msg.EXIT_FAILURE
        return msg.EXIT_OK

    # -- running a server -------------------------------------------------------------------

    def run_server(self, server: Server, args: list[str], *, prog: str) -> int:
        """Parse `args` with the server's parser, set up logging, and run it to the end."""
        parser = server.make_parser(prog)
        try:
            with self._parser_streams():
                opts = parser.parse_args(args)
        except SystemExit as exc:  # argparse: --help (0) or a bad flag (2)
            return exc.code if isinstance(exc.code, int) else msg.EXIT_USAGE
        # Only now: `SERVER --help` must not pay for logging and asyncio (40 ms).
        from hyperkube import logs, runner

        logs.configure(opts.verbosity, opts.log_format, self.log_roots, self.err)
        with self._server_errors(server, opts.verbosity) as result:
            result.append(runner.run(self.name, self.err, server, opts))
        return result[0] if result else msg.EXIT_FAILURE

    @contextlib.contextmanager
    def _parser_streams(self) -> Iterator[None]:
        with contextlib.redirect_stdout(self.out), contextlib.redirect_stderr(self.err):
            yield

    @contextlib.contextmanager
    def _server_errors(self, server: Server, verbosity: int) -> Iterator[list[int]]:
        """The one boundary where a server's failure becomes one line and exit code 1."""
        result: list[int] = []
        try:
            yield result
        except KeyboardInterrupt:
            result.append(msg.EXIT_OK)
        except Exception as exc:
            if verbosity >= 4:
                import logging

                logging.getLogger(__name__).exception("%s failed", server.name)
            text = str(exc) or type(exc).__name__
            self._say_err(msg.SERVER_ERROR.format(prog=self.name, server=server.name, error=text))
            result.append(msg.EXIT_FAILURE)

    # -- texts ------------------------------------------------------------------------------

    def usage(self) -> str:
        p = self.name
        return (
            f"usage: {p} SERVER [flags]        run a server ({p} SERVER --help for its flags)\n"
            f"       {p} help [SERVER]         this text, or a server's help\n"
            f"       {p} --list | --list-full  server names, one a line (with aliases)\n"
            f"       {p} --version\n"
            f"       {p} --make-symlinks [DIR] [--force]\n"
            f"       {p} completion bash|zsh\n"
            f"   or: SERVER [flags]           through a link named after the server\n"
        )

    def help_text(self) -> str:
        lines = [self.long.strip(), "", self.usage(), "servers:"] if self.long else [
            self.usage(), "servers:"]
        width = max((len(s.name) for s in self.servers), default=0)
        for server in self.servers:
            also = f" (also {', '.join(server.aliases)})" if server.aliases else ""
            lines.append(f"  {server.name:<{width}}  {server.usage}{also}")
        if not self.servers:
            lines.append("  " + msg.NO_SERVERS_YET)
        return "\n".join(lines) + "\n"

    def version_line(self) -> str:
        info = stamp.read(self.name)
        return msg.VERSION_LINE.format(prog=self.name, python=stamp.python_version(), **info)

    def executable(self) -> str:
        """The absolute, resolved path of the program file (km.pyz) this process runs from."""
        from hyperkube import bundle

        archive = bundle.archive_path()
        return os.path.realpath(archive or sys.argv[0])

    def _names(self) -> list[str]:
        return [s.name for s in self.servers]

    def _all_names(self) -> list[str]:
        return [n for s in self.servers for n in s.names]

    def _name_list(self) -> str:
        return ", ".join(self._names()) or msg.NO_SERVERS_YET

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")

    def _say_err(self, line: str) -> None:
        self.err.write(line + "\n")


def program_name(argv0: str) -> str:
    """The name a program was invoked under: basename, no leading "-", no ".pyz" suffix."""
    name = os.path.basename(argv0).lstrip("-")
    return name.removesuffix(".pyz")
