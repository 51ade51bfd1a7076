"""Man pages from the same parsers as `--help` (argparse-manpage; a build-time tool).

`write_all` writes `<name>.1` for the whole program, with every server as a section, and
`<name>-<server>.1` for each server. Dates follow SOURCE_DATE_EPOCH, so builds are reproducible.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from hyperkube.tree import Program


def render(parser: argparse.ArgumentParser, *, prog: str, description: str, version: str) -> str:
    from argparse_manpage.manpage import Manpage

    page = Manpage(parser, _data={
        "prog": prog,
        "project_name": prog.split()[0],
        "version": version,
        "description": description,
        "manual_title": "User Commands",
        "manual_section": 1,
    })
    return _usage_unfilled(str(page))


def _usage_unfilled(text: str) -> str:
    """Set each server section's usage block (``usage: ...`` and its indented lines) in no-fill
    mode: filled, groff joins the lines and cannot adjust the long unbreakable flags."""
    out: list[str] = []
    in_usage = False
    for line in text.splitlines():
        if in_usage and not line.startswith(" "):
            out.append(".fi")
            in_usage = False
        if line.startswith("usage: "):
            out.append(".nf")
            in_usage = True
        out.append(line)
    if in_usage:
        out.append(".fi")
    return "\n".join(out) + "\n"


def write_all(hk: Program, outdir: Path, version: str) -> list[Path]:
    from hyperkube.tree import tree_parser

    outdir.mkdir(parents=True, exist_ok=True)
    pages = {hk.name: render(tree_parser(hk), prog=hk.name, version=version,
                             description=hk.short)}
    for server in hk.servers:
        parser = server.make_parser(f"{hk.name} {server.name}")
        pages[f"{hk.name}-{server.name}"] = render(
            parser, prog=f"{hk.name}-{server.name}", version=version, description=server.usage)
    written = []
    for name, text in pages.items():
        path = outdir / f"{name}.1"
        path.write_text(text)
        written.append(path)
    return written
