"""What every CLI command module shares: the root options' state, the run store, one-line
user errors, the Rich console and the table/number/JSON renderers, and the option types.

It exists so that the command modules depend on it and nothing else of the CLI (the root,
``resnet_tui.cli``, imports the command modules, never the other way round). Only typer is
imported at the top: ``resnet-tui --help`` must import neither torch nor Textual, and Rich
and the engine API load when a command first needs them. The commands enter the engine
through ``engine.api`` (torch-free) and ``engine.api.compute`` (the verbs that need torch,
imported inside the commands that use them), nothing below.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from engine import api

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one config key: section.key=value (repeatable)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class State:
    """What the root options (``resnet-tui --runs-dir DIR ...``) set for this invocation."""

    runs_dir: str | None = None


state = State()


def store() -> api.RunStore:
    """The run store the root options point at."""
    from engine import api

    return api.open_store(state.runs_dir)


def fail(message: str, code: int = 2) -> NoReturn:
    """A user error: an ``error: ...`` line on stderr for each line of ``message`` (a request
    with several mistakes says each on a line of its own) and exit ``code`` (2 unless told)."""
    for line in message.splitlines() or [""]:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print a user error as ``error:`` lines (exit 2) instead of a traceback: one line, or
    one per problem of a request with several (``api.PlanError``)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except typer.Exit:
            raise
        except Exception as exc:
            from engine import api  # loaded already when the engine raised it

            if isinstance(exc, api.PlanError):
                fail("\n".join(str(problem) for problem in exc.problems))
            if isinstance(exc, api.UserError):
                fail(str(exc))
            raise

    return wrapper


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def show_warnings(s: api.RunStore, more: Sequence[str] = ()) -> None:
    """The store's warnings (a rebuilt index, an unreadable run folder) and ``more`` (damaged
    metrics lines: ``RunMetrics.warnings``) on stderr, each once."""
    seen: set[str] = set()
    for warning in [*s.warnings, *more]:
        if warning not in seen:
            seen.add(warning)
            typer.echo(f"warning: {warning}", err=True)


def note_name(record: api.RunRecord) -> None:
    """Say so when the store gave a run another name because the one asked for was taken."""
    if record.name_taken:
        typer.echo(
            f"note: a run named '{record.name_taken}' exists; this run is '{record.name}'",
            err=True,
        )


# ---------------------------------------------------------------- rendering


def fmt(value: Any, column: str = "") -> str:
    """One value of a table: 4 decimals for a metric, thousands separators for counts."""
    if value is None:
        return "-"
    if isinstance(value, float) and column in ("seconds", "images_per_s"):
        return f"{value:.1f}"
    if isinstance(value, float) and column == "lr":
        return f"{value:.3g}"
    if isinstance(value, float) and column == "best_epoch":
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


TEXT_COLUMNS = ("id", "name", "model", "dataset", "status", "started", "run")


def table(title: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> Table:
    """A Rich table of ``rows`` (dicts) over ``columns``: text left, numbers right."""
    from rich import box
    from rich.table import Table

    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        text = col in TEXT_COLUMNS
        # numeric headers on two lines ("val\nacc") keep the tables inside 80 columns
        header = col if text else col.replace("best_val_acc", "best val_acc").replace("_", "\n", 1)
        out.add_column(
            header,
            justify="left" if text else "right",
            no_wrap=True,
            overflow="fold" if col == "id" else "ellipsis",
        )
    for row in rows:
        out.add_row(*(fmt(row.get(col), col) for col in columns))
    return out


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# ---------------------------------------------------------------- the root group


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option or command, a missing argument) as one line, exit 2,
    like every other user error, instead of Click's usage block."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        extra["windows_expand_args"] = windows_expand_args
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        # Click's classes, whether Typer vendors Click or depends on it.
        ancestry: dict[str, type[Exception]] = {
            c.__name__: c for c in typer.BadParameter.__mro__ if issubclass(c, Exception)
        }
        usage_error, click_exception = ancestry["UsageError"], ancestry["ClickException"]
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exception as caught:
            exc: Any = caught  # a Click exception: show(), exit_code, format_message(), ctx
            if not isinstance(caught, usage_error) or type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # NoArgsIsHelpError shows the help
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "resnet-tui"
            typer.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
