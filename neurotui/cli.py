"""The ``neurotui`` command line.

Why this shape: every subcommand lives in ``neurotui/commands/<name>.py`` with two
functions, ``register(subparsers)`` (argparse only, no heavy imports) and ``run(args)``
(imports torch/textual/h5py lazily). So ``neurotui --help`` stays fast and imports neither
torch nor textual, and each feature owns its own command module.

With no subcommand (or paths only) the explorer app opens; see ``commands/app.py``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from neurotui import __version__

# Order here is the order shown by --help.
COMMAND_MODULES: tuple[str, ...] = (
    "app",
    "translate",
    "score",
    "models",
    "train",
    "extract",
    "info",
    "label",
    "convert",
    "rank",
    "evaluate",
    "top_words",
    "report",
    "ablate",
    "control",
    "replay",
)


def _available_commands() -> dict[str, object]:
    """Import the light command modules that exist (features land one by one)."""
    modules: dict[str, object] = {}
    for name in COMMAND_MODULES:
        try:
            modules[name] = importlib.import_module(f"neurotui.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"neurotui.commands.{name}":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error contract: one ``neurotui: error:`` line, exit 2.

    Why: argparse's own error prints the usage block and ``neurotui rank: error: …``, which
    scripts and the tests cannot tell from our errors; the line names the command and the
    flag (``argument --k: must be 1 or more, got -3``) and points to ``--help``.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        command = self.prog.removeprefix("neurotui").strip()
        where = f"{command}: " if command else ""
        hint = f"neurotui {command} --help" if command else "neurotui --help"
        self.exit(2, f"neurotui: error: {where}{message} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; registering commands imports no heavy library."""
    parser = _Parser(
        prog="neurotui",
        description=(
            "Explore the individual neurons of NLP models in the terminal. "
            "Run without a command to open the explorer on the bundled sample."
        ),
    )
    parser.add_argument("--version", action="version", version=f"neurotui {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _available_commands().values():
        module.register(subparsers)  # type: ignore[attr-defined]
    return parser


def _split_app_invocation(argv: list[str]) -> list[str]:
    """``neurotui [PATH…] [--theme T]`` means the app: insert the ``app`` command."""
    known = set(COMMAND_MODULES) | {m.replace("_", "-") for m in COMMAND_MODULES}
    known |= {"-h", "--help", "--version"}
    if not argv or argv[0] not in known:
        return ["app", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    commands = _available_commands()
    if "app" in commands:
        args_list = _split_app_invocation(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = commands[args.command.replace("-", "_")]
    from neurotui.errors import NeurotuiError

    try:
        return int(module.run(args) or 0)  # type: ignore[attr-defined]
    except NeurotuiError as exc:
        print(f"neurotui: error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        # Readers turn this into their own line; this is the net for any file they miss.
        print(f"neurotui: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurotui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `neurotui info --json | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
