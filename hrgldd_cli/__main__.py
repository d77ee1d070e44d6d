"""``python -m hrgldd_cli``: the same as the ``hrgldd`` command."""

from hrgldd_cli.main import main

main()
