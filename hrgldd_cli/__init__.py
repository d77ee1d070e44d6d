"""The ``hrgldd`` command: the top layer.

It drives the builders, the Hub client, training and mapping.

Every subcommand lives in a module of this package (or is a layer's own command, such as
``baselines.run``) and is imported only when it runs, so ``hrgldd --help`` stays fast.
"""

from hrgldd_cli.main import cli, main

__all__ = ["cli", "main"]
