"""The ``neurotui`` command line.

Why this shape: every subcommand lives in ``neurotui/commands/<name>.py`` with two
functions, ``register(subparsers)`` (argparse only, no heavy imports) and ``run(args)``
(imports torch/textual/h5py lazily). So ``neurotui --help`` stays fast and imports neither
torch nor textual, and each feature owns its own command module.

With no subcommand (or paths only) the explorer app opens; see ``commands/app.py``.

Signals: SIGTERM and SIGHUP (``kill``, a closed terminal) raise :class:`Terminated`, an
interrupt like Ctrl-C, so every ``finally`` and context manager runs and a write in
progress removes its temporary file (see :mod:`neurotui.atomicfile`); a second signal of
the same kind kills at once. The app keeps Textual's own handling.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, NoReturn, Protocol, cast

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
    "patch",
    "control",
    "replay",
)


class _Command(Protocol):
    """What every ``neurotui.commands`` module provides."""

    def register(self, subparsers: argparse._SubParsersAction) -> None: ...

    def run(self, args: argparse.Namespace) -> int | None: ...


def _available_commands() -> dict[str, _Command]:
    """Import the light command modules that exist (features land one by one)."""
    modules: dict[str, _Command] = {}
    for name in COMMAND_MODULES:
        try:
            modules[name] = cast(_Command, importlib.import_module(f"neurotui.commands.{name}"))
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

    def error(self, message: str) -> NoReturn:
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
        module.register(subparsers)
    return parser


def _split_app_invocation(argv: list[str]) -> list[str]:
    """``neurotui [PATH…] [--theme T]`` means the app: insert the ``app`` command."""
    known = set(COMMAND_MODULES) | {m.replace("_", "-") for m in COMMAND_MODULES}
    known |= {"-h", "--help", "--version"}
    if not argv or argv[0] not in known:
        return ["app", *argv]
    return argv


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (cleanup runs), exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_CLEANUP_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` while a command runs; restore after.

    Why: by default these signals end the process at once, so a write in progress leaves
    its temporary file behind; as an exception they unwind through the writers' cleanup.
    """
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def handler(signum: int, frame: object) -> None:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, signal.SIG_DFL)  # a second one kills at once
        raise Terminated(signum)

    for name in _CLEANUP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            old = signal.getsignal(signum)
            if old is signal.SIG_IGN:  # nohup: the user asked to ignore it
                continue
            signal.signal(signum, handler)
            previous[signum] = old
    try:
        yield
    finally:
        for signum, old in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, old)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    commands = _available_commands()
    if "app" in commands:
        args_list = _split_app_invocation(args_list)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, or a usage error (its one line printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = commands[args.command.replace("-", "_")]
    from neurotui.errors import NeurotuiError

    guard = signals_as_interrupts() if args.command != "app" else contextlib.nullcontext()
    try:
        with guard:
            return int(module.run(args) or 0)
    except NeurotuiError as exc:
        print(f"neurotui: error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"neurotui: terminated ({name})", file=sys.stderr)
        return 128 + exc.signum
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
