"""What every CLI command module shares: the root options' state, the run store, one-line
user errors, the Rich console, the JSON printer, the option types and the command class
whose help shows metavars (RUN, KEY=VALUE), never Python types. Tables: ``_table``.

It exists so that the command modules depend on it (and ``_table``) and nothing else of the
CLI (the root, ``resnet_tui.cli``, imports the command modules, never the other way round).
Only typer is imported at the top: ``resnet-tui --help`` must import neither torch nor
Textual, and Rich and the engine API load when a command first needs them. The commands
enter the engine through ``engine.api`` (torch-free) and ``engine.api.compute`` (the verbs
that need torch, imported inside the commands that use them), nothing below.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from rich.console import Console

    from engine import api

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override one config key: section.key=value (repeatable).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WHERE_HELP = (
    "Only the runs that match EXPR (the console's / filter, same language): "
    "field=value and != < <= > >= on any run field or config key "
    "(model=resnet24, best.val_acc>90%, optim.lr<=1e-3, status!=failed), "
    "name~GLOB, tag:NAME, plain words (in name, model, dataset, status), "
    "and/or/not, parentheses. A run without the value (no best epoch yet) matches only != and !~."
)
WhereOption = Annotated[str | None, typer.Option("--where", "-w", metavar="EXPR", help=WHERE_HELP)]

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


def require_png(option: str, path: object) -> None:
    """Refuse a picture file not named .png before any work (the pictures are PNG data)."""
    import os

    name = os.path.basename(str(path))
    if not name.lower().endswith(".png"):
        fail(f"{option}: write a .png file (got {name or path})")


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


def parse_where(where: str | None) -> api.Query | None:
    """The ``--where`` query (None: none given); a syntax error is one ``error: --where:``
    line naming the column, exit 2, before the store is read."""
    if where is None:
        return None
    from engine import api

    try:
        return api.parse_query(where)
    except api.QueryError as exc:
        fail(f"--where: {exc}")


def select_where(
    records: Sequence[api.RunRecord], where: str | api.Query | None
) -> list[api.RunRecord]:
    """The records ``--where`` lets through, in their order (all of them without one)."""
    query = parse_where(where) if isinstance(where, str) or where is None else where
    if query is None:
        return list(records)
    return [r for r in records if query.matches(r)]


# ---------------------------------------------------------------- rendering


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# ---------------------------------------------------------------- commands and the root group


def command(parent: typer.Typer, name: str, fn: Callable[..., Any]) -> None:
    """Add ``fn`` to ``parent`` as the command ``name``: user errors as ``error:`` lines, help
    through ``Command``."""
    parent.command(name, cls=Command)(user_errors(fn))


class Command(TyperCommand):
    """A command whose help names what to type: each argument by its metavar (RUN, PRESET),
    written as Click writes it (``RUN``, ``[RUN]``, ``RUN...``), never with its Python type
    (Typer adds ``<list[str]>``; options show their metavar, which every option sets)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def _argument_name(param: Any) -> str:
    name = str(param.metavar or (param.name or "").upper())
    return name + ("..." if param.nargs != 1 else "")


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
