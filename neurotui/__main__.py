"""``python -m neurotui`` is the same as the ``neurotui`` console script."""

from neurotui.cli import main

if __name__ == "__main__":  # spawned worker processes re-import this module
    raise SystemExit(main())
