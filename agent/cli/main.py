"""Entry point of the ``vidsleuth`` command.

Each subcommand family lives in its own module exposing ``register(app)``; heavy libraries are
imported inside the commands, so ``vidsleuth --help`` stays fast.  Expected failures
(:class:`~vidsleuth.errors.VidsleuthError`) become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer

# typer >= 0.29 vendors click; its exception classes live here (older typer re-used click's).
try:
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer
    from click import ClickException  # type: ignore[assignment]

from vidsleuth.errors import VidsleuthError

# Subcommand families, in the order ``--help`` lists them.
FAMILIES: tuple[str, ...] = (
    "demo",
    "ask",
    "video",
    "bench",
    "index",
    "memory",
    "perception",
    "evaluate",
    "models",
    "generate",
    "retriever",
    "serve",
)

app = typer.Typer(
    name="vidsleuth",
    help="Answer questions about long videos by investigating them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for name in FAMILIES:
        importlib.import_module(f"vidsleuth.agent.cli.{name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    _register_all()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="vidsleuth", standalone_mode=False)
    except VidsleuthError as err:
        sys.stderr.write(f"vidsleuth: error: {err}\n")
        return err.exit_code
    except typer.Abort:
        sys.stderr.write("vidsleuth: aborted\n")
        return 130
    except typer.Exit as ex:
        return int(ex.exit_code or 0)
    except typer.BadParameter as err:
        # One line naming the parameter and the problem (e.g. an unreadable --store).
        sys.stderr.write(f"vidsleuth: error: {err.format_message()}\n")
        return err.exit_code
    except ClickException as err:
        err.show()
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("vidsleuth: interrupted\n")
        return 130
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())


def main_exit() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
