"""The ``hubrl`` command line (``hubrl`` console script, ``python -m hubrl.cli``): a face on the public API."""

from hubrl.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
