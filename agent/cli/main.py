"""Entry point of the ``vidsleuth`` command.

Each subcommand family lives in its own module exposing ``register(app)``; heavy libraries are
imported inside the commands, so ``vidsleuth --help`` stays fast.  Expected failures
(:class:`~vidsleuth.errors.VidsleuthError`) become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import errno
import importlib
import math
import sys
from typing import Any

import typer

# typer >= 0.29 vendors click; its exception classes live here (older typer re-used click's).
try:
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - older typer
    from click import ClickException, UsageError  # type: ignore[assignment]

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


_registered = False


def _register_all() -> None:
    """Attach every family's commands to ``app``, once per process (``main`` may run many
    times in one process, as the tests do: registering again would pile up copies)."""
    global _registered
    if _registered:
        return
    for name in FAMILIES:
        importlib.import_module(f"vidsleuth.agent.cli.{name}").register(app)
    _registered = True


def _is_float(param: Any) -> bool:
    desc = getattr(param, "type_descriptor", None)  # typer >= 0.29
    if desc is not None:
        return getattr(desc, "annotation", None) is float
    return type(getattr(param, "type", None)).__name__ in ("FloatParamType", "FloatRange")


def _finite_floats(command: Any) -> None:
    """Make every float option and argument of the tree refuse nan and inf (one line, exit 2).

    Done once here, so no command can forget it and new ones get it for free.
    """
    for param in getattr(command, "params", []):
        if not _is_float(param) or getattr(param, "_vidsleuth_finite", False):
            continue
        inner = param.callback

        def finite(ctx: Any, p: Any, value: Any, inner: Any = inner) -> Any:
            if inner is not None:
                value = inner(ctx, p, value)
            for v in value if isinstance(value, list | tuple) else [value]:
                if isinstance(v, float) and not math.isfinite(v):
                    raise typer.BadParameter(f"{v} is not a finite number", ctx=ctx, param=p)
            return value

        param.callback = finite
        param._vidsleuth_finite = True
    for sub in getattr(command, "commands", {}).values():
        _finite_floats(sub)


# Storage failures that are the environment's, not a bug: one line naming the file.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    _register_all()
    command = typer.main.get_command(app)
    _finite_floats(command)
    try:
        result = command.main(args=argv, prog_name="vidsleuth", standalone_mode=False)
    except VidsleuthError as err:
        sys.stderr.write(f"vidsleuth: error: {_one_line(str(err))}\n")
        return err.exit_code
    except typer.Abort:
        sys.stderr.write("vidsleuth: aborted\n")
        return 130
    except typer.Exit as ex:
        return int(ex.exit_code or 0)
    except UsageError as err:
        # One line naming the parameter and the problem (e.g. an unreadable --store, a missing
        # argument, nan for a number), and where the help is.
        where = err.ctx.command_path if err.ctx is not None else "vidsleuth"
        sys.stderr.write(
            f"vidsleuth: error: {_one_line(err.format_message())} (see: {where} --help)\n"
        )
        return err.exit_code
    except ClickException as err:
        sys.stderr.write(f"vidsleuth: error: {_one_line(err.format_message())}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("vidsleuth: interrupted\n")
        return 130
    except OSError as err:
        if err.errno not in _STORAGE_ERRNOS:
            raise
        from vidsleuth.memory.store import storage_problem

        where = err.filename or "a file"
        sys.stderr.write(f"vidsleuth: error: {_one_line(storage_problem(where, err))}\n")
        return 2
    return int(result) if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    """Messages are one line: embedded newlines (a multi-line library error) become ' / '."""
    return " / ".join(part.strip() for part in text.strip().splitlines() if part.strip())


if __name__ == "__main__":
    raise SystemExit(main())


def main_exit() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
