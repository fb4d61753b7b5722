"""``python -m neurotui`` is the same as the ``neurotui`` console script."""

from neurotui.cli import main

raise SystemExit(main())
