"""One module per subcommand: ``register(subparsers)`` and ``run(args) -> int``.

``register`` must stay import-light (argparse only); heavy imports go inside ``run``.
"""
