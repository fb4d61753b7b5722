"""neurotui: a keyboard-driven terminal explorer for the individual neurons of NLP models.

The package is layered (see docs/architecture in shared ARCHITECTURE.md): ``store``,
``models``, ``analysis`` and ``intervene`` never import Textual; ``tui`` is the app.
Importing this package is cheap on purpose: ``neurotui --help`` must not pull torch.
"""

__version__ = "0.1.0"
