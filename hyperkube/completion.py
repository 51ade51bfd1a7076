"""`completion bash|zsh`: a static completion script from the same parsers as `--help`.

shtab walks the parser tree once; the program never runs when TAB is pressed. The script
completes the program's own name and its usual file names (km, km.pyz).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperkube import messages as msg

if TYPE_CHECKING:
    from hyperkube.tree import Program

SHELLS = ("bash", "zsh")


class CompletionError(Exception):
    pass


class UnknownShell(CompletionError):
    pass


def script(hk: Program, shell: str) -> str:
    if shell not in SHELLS:
        raise UnknownShell(msg.BAD_COMPLETION_SHELL.format(shell=shell, choices=", ".join(SHELLS)))
    try:
        import shtab
    except ImportError:
        raise CompletionError(msg.NO_SHTAB) from None
    from hyperkube.tree import tree_parser

    text: str = shtab.complete(tree_parser(hk), shell=shell)
    if shell == "bash":
        # shtab binds the function to the parser's prog; bind the archive's name too.
        text += f"complete -o filenames -F _shtab_{_ident(hk.name)} {hk.name}.pyz\n"
    return text


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
