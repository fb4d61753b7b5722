"""``neurotui [PATH…]``: open the explorer app.

Why a command module: the CLI dispatcher routes a bare ``neurotui`` (or paths only) here;
argparse setup stays light and Textual is imported only inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from neurotui.commands.common import add_cluster_arg, add_device_arg, add_model_dtype_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    """``app [PATH…] [--model M] [--theme T] [--no-mouse] [--device D] [--dtype T] [--cluster C]``."""
    parser = subparsers.add_parser(
        "app",
        help="open the explorer (default when no command is given)",
        description=(
            "Open the explorer on activation stores (ours, NeuroX hdf5/json) or checkpoints "
            "(extracted on the bundled text). Several stores of models trained alike open "
            "together for cross-model views. Without paths: the bundled sample."
        ),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="stores or checkpoints to open")
    parser.add_argument(
        "--model", metavar="M", help="the model the stores come from (for translation modes)"
    )
    parser.add_argument(
        "--theme", metavar="T", help="theme name (neurotui-dark, neurotui-light, or one of yours)"
    )
    parser.add_argument("--no-mouse", action="store_true", help="ignore the mouse (keyboard only)")
    parser.add_argument(
        "--mono", action="store_true", help="monochrome activation cues (as with NO_COLOR)"
    )
    add_device_arg(parser)
    add_model_dtype_arg(parser)
    add_cluster_arg(parser)


def run(args: argparse.Namespace) -> int:
    """Run the app until the user quits."""
    from pathlib import Path

    from neurotui.errors import NeurotuiError
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.keymap import load_keymap

    for path in args.paths:
        if not Path(path).exists():
            raise NeurotuiError(f"{path}: no such file or directory")
    load_keymap()  # a keymap the app cannot apply is refused here, in one line
    with _cluster(args.cluster) as cluster:
        app = NeurotuiApp(
            args.paths,
            model=args.model,
            theme=args.theme,
            device=args.device,
            model_dtype=args.model_dtype,
            cluster=cluster,
            mono=True if args.mono else None,
        )
        app.run(mouse=not args.no_mouse)
    return int(app.return_code or 0)


def _cluster(spec: str | None) -> contextlib.AbstractContextManager[Any]:
    """The session's Dask client, connected before the app starts (or nothing).

    Why before: a local cluster's worker processes cannot be started once Textual captures
    ``sys.stderr`` (multiprocessing's resource tracker needs its file descriptor: "bad
    value(s) in fds_to_keep"); and one client for the session spares each ranking the
    seconds a cluster takes to start, while an unreachable scheduler is one line before the
    screen opens.
    """
    if spec is None:
        return contextlib.nullcontext()
    from neurotui.scale.engine import client_for

    return client_for(spec)
