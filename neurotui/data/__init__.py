"""See the package docstring in neurotui/__init__.py."""
