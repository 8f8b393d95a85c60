"""``resnet-tui runs note|tag|untag|archive|restore|pin|unpin`` on the console's fixture store
(real store files, the real CLI through typer's runner), the lists that hide archived runs and
put pinned ones first, ``runs show``'s marks, the refusals (in the engine's words, one line,
nothing written), and four real processes tagging one run at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from rich.cells import cell_len
from tui_fixtures import build_store
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app

runner = CliRunner()
QUICK = "20250312-180000-digits-quick-0001"
LR05 = "20250312-190000-digits-lr05-0002"
CRASH = "20250313-150000-digits-crash-0005"
LIVE = "20250314-170000-digits-live-0007"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture store, built once (a second each time); each test changes a copy."""
    root = tmp_path_factory.mktemp("marks") / "runs"
    build_store(root)
    return root


@pytest.fixture
def store(built: Path, tmp_path: Path) -> api.RunStore:
    shutil.copytree(built, tmp_path / "runs")
    return api.open_store(tmp_path / "runs")


def cli(
    store: api.RunStore, *args: str, input: str | None = None, width: int = 100
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``resnet-tui --runs-dir STORE ARGS``."""
    result = runner.invoke(
        app, ["--runs-dir", str(store.root), *args], input=input, env={"COLUMNS": str(width)}
    )
    return result.exit_code, result.stdout, result.stderr


def refused(store: api.RunStore, *args: str) -> str:
    """The one ``error:`` line a refused command prints (exit 2, nothing on stdout)."""
    code, out, err = cli(store, *args)
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0].removeprefix("error: ")


def doc(store: api.RunStore, run_id: str) -> api.RunRecord:
    return api.get_run(store, run_id)


def list_names(store: api.RunStore, *args: str) -> list[str]:
    code, out, err = cli(store, "runs", "list", "--json", *args)
    assert code == 0, err
    return [row["name"] for row in json.loads(out)]


# ---------------------------------------------------------------- note


def test_note_sets_prints_reads_stdin_and_clears(store: api.RunStore) -> None:
    code, out, err = cli(store, "runs", "note", "digits-quick")
    assert code == 0 and out == ""
    assert err.strip() == (
        f"run {QUICK} (digits-quick) has no note; `resnet-tui runs note {QUICK} TEXT` adds one"
    )

    code, out, _ = cli(store, "runs", "note", "digits-quick", "lr 0.1 was too high\nretry 0.05")
    assert code == 0
    assert out == (f"saved the note of run {QUICK} (digits-quick) (2 lines, 30 characters)\n")
    assert doc(store, QUICK).note == "lr 0.1 was too high\nretry 0.05"
    code, out, _ = cli(store, "runs", "note", QUICK)
    assert code == 0 and out == "lr 0.1 was too high\nretry 0.05\n"

    # `-` reads stdin (the last newline, as echo adds it, is not kept); it replaces the note.
    code, out, _ = cli(store, "runs", "note", "digits-lr05", "-", input="from a pipe\n")
    assert code == 0 and out.startswith(f"saved the note of run {LR05} (digits-lr05)")
    assert doc(store, LR05).note == "from a pipe"
    assert doc(store, QUICK).note.endswith("retry 0.05")  # another run's note is untouched

    code, out, _ = cli(store, "runs", "note", "digits-quick", "--clear")
    assert code == 0 and out == f"cleared the note of run {QUICK} (digits-quick)\n"
    assert doc(store, QUICK).note == ""


def test_note_refusals_change_nothing(store: api.RunStore) -> None:
    api.note_run(store, QUICK, "kept")
    assert refused(store, "runs", "note", QUICK, "x", "--clear") == "give TEXT or --clear, not both"
    assert refused(store, "runs", "note", QUICK, "x" * 10_001) == (
        "a note holds at most 10,000 characters; this one has 10,001"
    )
    assert refused(store, "runs", "note", "no-such-run", "x") == (
        f"no run 'no-such-run' in {store.root}; see `resnet-tui runs list`"
    )
    assert doc(store, QUICK).note == "kept"


# ---------------------------------------------------------------- tags


def test_tag_and_untag_say_what_changed(store: api.RunStore) -> None:
    code, out, _ = cli(store, "runs", "tag", "digits-quick", "baseline", "paper:fig3")
    assert code == 0
    assert out == (
        f"run {QUICK} (digits-quick): tagged baseline, paper:fig3; its tags: baseline paper:fig3\n"
    )
    code, out, _ = cli(store, "runs", "tag", QUICK[:12], "baseline", "v2")
    assert code == 0 and out == (
        f"run {QUICK} (digits-quick): tagged v2; already tagged baseline; "
        "its tags: baseline paper:fig3 v2\n"
    )
    code, out, _ = cli(store, "runs", "untag", "digits-quick", "paper:fig3", "never")
    assert code == 0 and out == (
        f"run {QUICK} (digits-quick): untagged paper:fig3; had no tag never; "
        "its tags: baseline v2\n"
    )
    assert doc(store, QUICK).tags == ("baseline", "v2")
    code, out, _ = cli(store, "runs", "untag", "digits-quick", "baseline", "v2")
    assert code == 0 and out.endswith("untagged baseline, v2; it has no tags\n")
    assert doc(store, QUICK).tags == ()


def test_a_bad_tag_or_run_is_refused_in_the_engines_words(store: api.RunStore) -> None:
    api.tag_run(store, QUICK, ["kept"])
    for bad in ("has space", "_leading", "é", "x" * 65):
        message = refused(store, "runs", "tag", QUICK, "fine", bad)
        assert message.startswith(f"{bad!r} is not a tag: use letters, digits and _.:/+-")
        assert "e.g. 'baseline' or 'paper:fig3'" in message
    assert refused(store, "runs", "untag", QUICK, "bad tag").startswith("'bad tag' is not a tag")
    assert refused(store, "runs", "tag", "nope", "a") == (
        f"no run 'nope' in {store.root}; see `resnet-tui runs list`"
    )
    assert doc(store, QUICK).tags == ("kept",)  # "fine" was not added either
    code, _, err = cli(store, "runs", "tag", QUICK)
    assert code == 2 and "Missing argument 'TAG'" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- archive and restore


def test_archived_runs_are_hidden_from_list_and_best_until_asked(store: api.RunStore) -> None:
    everyone = list_names(store)
    code, out, _ = cli(store, "runs", "archive", "digits-crash", LR05, "digits-crash")
    assert code == 0
    assert out.splitlines() == [
        f"archived run {CRASH} (digits-crash): hidden from lists and views, kept in the store; "
        f"restore it with `resnet-tui runs restore {CRASH}`",
        f"archived run {LR05} (digits-lr05): hidden from lists and views, kept in the store; "
        f"restore it with `resnet-tui runs restore {LR05}`",
    ]
    assert doc(store, CRASH).archived and (store.root / CRASH).is_dir()  # never deleted
    assert list_names(store) == [n for n in everyone if n not in ("digits-crash", "digits-lr05")]
    assert list_names(store, "--archived") == everyone

    code, out, _ = cli(store, "runs", "list")
    assert code == 0 and "digits-crash" not in out and "digits-lr05" not in out
    assert out.splitlines()[-1] == "2 archived runs hidden; --archived shows them"
    code, out, _ = cli(store, "runs", "list", "--archived")
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines() if "⊟" in line}
    assert rows == {"digits-crash": "⊟", "digits-lr05": "⊟"}  # marked
    assert "archived runs hidden" not in out
    code, out, _ = cli(store, "runs", "list", "--status", "crashed")  # counts what it hid
    assert out.strip() == (
        f"no crashed runs to show in {store.root}: 1 archived run hidden; --archived shows them"
    )

    code, out, _ = cli(store, "runs", "best")
    assert code == 0 and "digits-lr05" not in out and "digits-crash" not in out
    assert out.splitlines()[-1] == "2 archived runs hidden; --archived shows them"
    code, out, _ = cli(store, "runs", "best", "--archived", "--json")
    assert {"digits-lr05", "digits-crash"} <= {row["run"] for row in json.loads(out)}
    code, out, _ = cli(store, "runs", "best", "digits-lr05", "digits-quick")  # named: shown
    assert code == 0 and "digits-lr05" in out and "archived runs hidden" not in out

    code, out, _ = cli(store, "runs", "archive", CRASH)
    assert out == f"run {CRASH} (digits-crash) was archived already\n"
    code, out, _ = cli(store, "runs", "restore", "digits-crash", QUICK)
    assert code == 0 and out.splitlines() == [
        f"restored run {CRASH} (digits-crash): it shows in lists and views again",
        f"run {QUICK} (digits-quick) is not archived",
    ]
    assert list_names(store) == [n for n in everyone if n != "digits-lr05"]


def test_archive_refuses_an_unknown_run_before_archiving_any(store: api.RunStore) -> None:
    assert refused(store, "runs", "archive", QUICK, "nope") == (
        f"no run 'nope' in {store.root}; see `resnet-tui runs list`"
    )
    assert not doc(store, QUICK).archived
    api.archive_run(store, QUICK)
    assert refused(store, "runs", "restore", "nope", QUICK).startswith("no run 'nope'")
    assert doc(store, QUICK).archived
    code, _, err = cli(store, "runs", "archive")
    assert code == 2 and "Missing argument 'RUN'" in err


# ---------------------------------------------------------------- pin and unpin


def test_pinned_runs_come_first_whatever_the_order(store: api.RunStore) -> None:
    newest_first = list_names(store)
    assert newest_first[-1] == "digits-quick"  # the oldest
    code, out, _ = cli(store, "runs", "pin", "digits-quick", "digits-lr05")
    assert code == 0 and out.splitlines() == [
        f"pinned run {QUICK} (digits-quick): on top of the lists, the baseline in Compare",
        f"pinned run {LR05} (digits-lr05): on top of the lists, the baseline in Compare",
    ]
    rest = [n for n in newest_first if n not in ("digits-quick", "digits-lr05")]
    assert list_names(store) == ["digits-lr05", "digits-quick", *rest]  # each group newest first
    rows = json.loads(cli(store, "runs", "list", "--json")[1])
    assert [r["pinned"] for r in rows[:3]] == [True, True, False]

    code, out, _ = cli(store, "runs", "list")
    table = [line for line in out.splitlines() if "digits" in line or "resnet" in line]
    assert table[0].split()[:2] == ["⚑", "digits-lr05"]
    assert table[1].split()[:2] == ["⚑", "digits-quick"]

    code, out, _ = cli(store, "runs", "best")
    rows_shown = [line.split() for line in out.splitlines() if "⚑" in line]
    assert [r[1] for r in rows_shown] == ["digits-lr05", "digits-quick"]
    best = json.loads(cli(store, "runs", "best", "--json")[1])
    assert [r["run"] for r in best[:2]] == ["digits-lr05", "digits-quick"]

    code, out, _ = cli(store, "runs", "pin", "digits-quick")
    assert out == f"run {QUICK} (digits-quick) was pinned already\n"
    code, out, _ = cli(store, "runs", "unpin", "digits-quick", "digits-live")
    assert out.splitlines() == [
        f"unpinned run {QUICK} (digits-quick)",
        f"run {LIVE} (digits-live) is not pinned",
    ]
    assert list_names(store) == ["digits-lr05", *[n for n in newest_first if n != "digits-lr05"]]
    assert refused(store, "runs", "pin", "nope").startswith("no run 'nope'")


# ---------------------------------------------------------------- show, rename, narrow tables


def test_show_prints_the_marks_and_json_holds_them(store: api.RunStore) -> None:
    code, out, _ = cli(store, "runs", "show", "digits-quick")
    assert code == 0 and "tags: -" in out and "note: -" in out and "pinned" not in out
    api.tag_run(store, QUICK, ["baseline", "paper:fig3"])
    api.note_run(store, QUICK, "first line\nsecond line")
    api.pin_run(store, QUICK)
    api.archive_run(store, QUICK)
    code, out, _ = cli(store, "runs", "show", "digits-quick")
    lines = out.splitlines()
    assert "⚑ pinned: on top of the lists; the baseline in Compare" in lines
    assert (
        f"⊟ archived: hidden from the lists; restore it with `resnet-tui runs restore {QUICK}`"
        in " ".join(out.split())
    )
    assert "tags: baseline paper:fig3" in lines
    note = lines.index("note:")
    assert lines[note + 1 : note + 3] == ["  first line", "  second line"]
    code, out, _ = cli(store, "runs", "show", QUICK, "--json")
    run = json.loads(out)["run"]
    assert run["note"] == "first line\nsecond line"
    assert run["tags"] == ["baseline", "paper:fig3"]
    assert run["pinned"] is True and run["archived"] is True


def test_rename_keeps_names_unique_archived_runs_included(store: api.RunStore) -> None:
    api.archive_run(store, CRASH)
    assert refused(store, "runs", "rename", QUICK, "digits-crash").startswith(
        f"the name 'digits-crash' is taken by run {CRASH}"
    )
    code, out, _ = cli(store, "runs", "rename", "digits-crash", "crash-kept")
    assert code == 0 and out == f"renamed run {CRASH}: 'digits-crash' -> 'crash-kept'\n"
    assert doc(store, CRASH).archived  # a rename keeps the marks
    code, out, _ = cli(store, "runs", "restore", "crash-kept")
    assert out.startswith(f"restored run {CRASH} (crash-kept)")


@pytest.mark.parametrize("width", [80, 60])
def test_marked_lists_keep_names_whole_when_narrow(store: api.RunStore, width: int) -> None:
    long = "cifar10-resnet50d-se-long-name-for-narrow-terminals"
    api.rename_run(store, LR05, long)
    api.pin_run(store, LR05)
    api.archive_run(store, LR05)
    api.tag_run(store, LR05, ["a-rather-long-tag-for-a-narrow-terminal", "paper:fig3"])
    api.tag_run(store, QUICK, ["baseline"])
    for args in (("runs", "list", "--archived"), ("runs", "best", "--archived")):
        code, out, _ = cli(store, *args, width=width)
        assert code == 0 and "…" not in out
        assert long in out and "digits-quick" in out
        wide = [line for line in out.splitlines() if cell_len(line) > width]
        assert not wide, wide
        assert "⚑⊟" in out
    code, out, _ = cli(store, "runs", "list", width=160)  # wide: the tags are shown whole
    assert "baseline" in out and long not in out


# ---------------------------------------------------------------- concurrent writers


@pytest.mark.slow  # four whole CLI processes: about 3 s alone, more on a busy machine
def test_four_processes_tagging_one_run_at_once_lose_no_tag(store: api.RunStore) -> None:
    """(Without the store's lock around the read-modify-write, this loses tags: tried.)"""
    api.note_run(store, QUICK, "kept through it all")
    env = {**os.environ, "RESNET_TUI_RUNS": str(store.root), "COLUMNS": "200"}
    tags = {n: [f"p{n}-t{i}" for i in range(6)] for n in range(4)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "resnet_tui", "runs", "tag", "digits-quick", *mine],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mine in tags.values()
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.startswith(f"run {QUICK} (digits-quick): tagged "), out
    after = doc(store, QUICK)
    assert sorted(after.tags) == sorted(t for mine in tags.values() for t in mine)
    for mine in tags.values():  # each process's tags in the order it gave them
        assert [t for t in after.tags if t in mine] == mine
    assert after.note == "kept through it all"
    on_disk = json.loads((store.root / QUICK / "run.json").read_text(encoding="utf-8"))
    assert on_disk["tags"] == list(after.tags)  # the run's own file, as the index


def test_where_meets_the_marks(store: api.RunStore) -> None:
    """--where filters what is shown; a query about ``archived`` looks at archived runs."""
    cli(store, "runs", "archive", "digits-lr05")
    cli(store, "runs", "tag", "digits-quick", "baseline", "paper:fig3")
    cli(store, "runs", "tag", "digits-lr05", "baseline")
    assert list_names(store, "--where", "tag:baseline") == ["digits-quick"]  # lr05 is hidden
    assert sorted(list_names(store, "--where", "tag:baseline", "--archived")) == [
        "digits-lr05",
        "digits-quick",
    ]
    assert list_names(store, "--where", "archived=true") == ["digits-lr05"]
    code, out, _ = cli(store, "runs", "best", "--where", "archived=true and tag:baseline")
    assert code == 0 and "digits-lr05" in out and "digits-quick" not in out
    code, out, _ = cli(store, "runs", "export", "--format", "json", "--where", "tag:paper:*")
    assert code == 0 and [row["name"] for row in json.loads(out)] == ["digits-quick"]
    # the hidden count is of the archived runs the query would have shown
    code, out, _ = cli(store, "runs", "list", "--where", "tag:baseline")
    assert out.splitlines()[-1] == "1 archived run hidden; --archived shows them"
    code, out, _ = cli(store, "runs", "list", "--where", "tag:paper:*")
    assert "archived run" not in out
