"""The ``hrgldd`` group: subcommands loaded lazily, product errors shown as one line.

Every error the product raises on purpose is an :class:`~hrgldd_data.errors.HrglddError` whose
message names the file and the fix; it is caught here, once, and printed as ``Error: ...`` with
exit status 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
import signal

import click

from hrgldd_data._version import __version__
from hrgldd_data.errors import HrglddError

#: Subcommand name -> "module:attribute" of its click command, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "sample": "hrgldd_cli.releases:sample",
    "build": "hrgldd_cli.releases:build",
    "import-patches": "hrgldd_cli.releases:import_patches_cmd",
    "import-legacy": "hrgldd_cli.releases:import_legacy_cmd",
    "verify": "hrgldd_cli.releases:verify",
    "info": "hrgldd_cli.releases:info",
    "stats": "hrgldd_cli.releases:stats",
    "card": "hrgldd_cli.releases:card",
    "publish": "hrgldd_cli.hub:publish",
    "pull": "hrgldd_cli.hub:pull",
    "versions": "hrgldd_cli.hub:versions",
    "publish-leaderboard": "hrgldd_cli.hub:publish_leaderboard",
    "train": "baselines.run:main",
    "map": "hrgldd_cli.map:map_cmd",
    "publish-model": "hrgldd_cli.map:publish_model",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented lazy pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HrglddError as err:
            raise click.ClickException(str(err)) from err
        except KeyboardInterrupt as err:
            raise Stopped("SIGINT", 128 + signal.SIGINT) from err
        except Terminated as err:
            raise Stopped("SIGTERM", 128 + signal.SIGTERM) from err


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


class Stopped(click.ClickException):
    """A command stopped by a signal: one line, the conventional exit status (130, 143)."""

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(
            f"stopped by {signal_name}; temporary output was removed and nothing was left "
            "half-written. Run the command again to redo it."
        )
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        # Background threads (Zarr's event loop) may be cut short mid-task; their shutdown
        # complaints would bury this line, so they are silenced once we know why we stop.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)
        super().show(file)


def terminate_as_exit() -> None:
    """Turn SIGTERM into an exception so that a killed command removes its temporary output."""

    def handler(signum, frame):  # noqa: ARG001
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hrgldd")
def cli() -> None:
    """HR-GLDD: build, verify and share landslide releases; train, score and map with them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    terminate_as_exit()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hrgldd")
