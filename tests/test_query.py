"""The run query language (engine.query, through engine.api): a table of queries against five
runs built here, with the runs each must match, and a table of texts it must refuse, with the
column and the words of the refusal."""

from __future__ import annotations

import pytest

from engine import api
from engine.records import AblationLink, EpochStats, RunRecord, SweepLink

RUNS = (
    RunRecord(
        id="20250312-180000-digits-quick-0001",
        name="digits-quick",
        status="finished",
        preset="digits-quick",
        model="resnet_small",
        dataset="digits",
        config={
            "model": {"name": "resnet_small"},
            "data": {"name": "digits", "batch_size": 128},
            "optim": {"name": "sgd", "lr": 0.1},
            "train": {"epochs": 12, "seed": 7},
        },
        created="2025-03-12T18:00:00+00:00",
        params=308_074,
        epoch=12,
        epochs=12,
        best=EpochStats(11, 0.08, 0.99, 0.1, 0.97),
        test=api.TestStats(0.0306, 0.9694),
        elapsed_s=42.0,
        tags=("baseline",),
        pinned=True,
    ),
    RunRecord(
        id="20250312-190000-digits-lr05-0002",
        name="digits-lr05",
        status="finished",
        preset="digits-quick",
        model="resnet_small",
        dataset="digits",
        config={
            "model": {"name": "resnet_small"},
            "data": {"name": "digits", "batch_size": 128},
            "optim": {"name": "sgd", "lr": 0.05},
            "train": {"epochs": 12},  # no seed: a run saved before the key existed
        },
        created="2025-03-12T19:00:00+00:00",
        params=308_074,
        epoch=12,
        epochs=12,
        best=EpochStats(12, 0.12, 0.97, 0.15, 0.95),
        test=api.TestStats(0.0529, 0.9471),
        elapsed_s=40.5,
        sweep=SweepLink("digits-opt-lr", trial=3),
        tags=("lr", "sweep-me"),
        note="try a lower lr next",
        archived=True,
    ),
    RunRecord(
        id="20250313-080000-resnet24-mixup-0003",
        name="resnet24-mixup",
        status="finished",
        preset="cifar10-resnet24-mixup",
        model="resnet24",
        dataset="cifar10",
        config={
            "model": {"name": "resnet24", "layers": [3, 3, 2, 3]},
            "data": {"name": "cifar10", "batch_size": 256},
            "optim": {"name": "adadelta", "lr": 0.01},
            "train": {"epochs": 40},
        },
        created="2025-03-13T08:00:00+00:00",
        params=4_935_242,
        epoch=40,
        epochs=40,
        best=EpochStats(38, 0.2, 0.96, 0.25, 0.93),
        test=api.TestStats(0.0713, 0.9287),
        elapsed_s=1240.0,
        tags=("paper", "Baseline-cifar"),
    ),
    RunRecord(
        id="20250313-150000-digits-crash-0004",
        name="digits-crash",
        status="crashed",
        preset="digits-quick",
        model="resnet_small",
        dataset="digits",
        config={"train": {"epochs": 20}},  # only one section: the others are missing
        created="2025-03-13T15:00:00+00:00",
        epoch=0,
        epochs=20,
        ablation=AblationLink("ablate-20250313-200000-ab12", "hflip"),
    ),
    RunRecord(
        id="20250314-171500-broken-0005",
        name="broken",
        status="failed",
        message="unreadable run folder",
    ),
)
ALL = {r.name for r in RUNS}
QUICK, LR05, MIXUP, CRASH, BROKEN = (r.name for r in RUNS)

VALID: list[tuple[str, set[str]]] = [
    # plain words: what the Runs view's filter always did (name, model, dataset, status...)
    ("", ALL),
    ("   ", ALL),
    ("digits", {QUICK, LR05, CRASH}),
    ("DIGITS", {QUICK, LR05, CRASH}),
    ("digits lr05", {LR05}),
    ("finished cifar", {MIXUP}),
    ("crash", {CRASH}),
    ("ablate-2025", {CRASH}),  # the ablation group
    ("opt-lr", {LR05}),  # the sweep
    ('"cifar10 finished"', {MIXUP}),  # a phrase, spaces and all
    ("resnet24 or crash", {MIXUP, CRASH}),
    # run fields
    ("model=resnet24", {MIXUP}),
    ("model==RESNET24", {MIXUP}),
    ("model!=resnet24", ALL - {MIXUP}),
    ("status!=failed", ALL - {BROKEN}),
    ("status=finished status!=finished", set()),
    ("name='resnet24-mixup'", {MIXUP}),
    ('name="digits-quick"', {QUICK}),
    ("params<5M", {QUICK, LR05, MIXUP}),
    ("params>=4.9m", {MIXUP}),
    ("params>300k and params<400k", {QUICK, LR05}),
    ("epochs=20", {CRASH}),
    ("epoch<1", {CRASH, BROKEN}),
    ("elapsed_s>100", {MIXUP}),
    ("created>=2025-03-13", {MIXUP, CRASH}),
    ("created<2025-03-12T18:30", {QUICK}),
    ("created=2025-03-12", {QUICK, LR05}),  # the whole day
    ("created>2025-03-12", {MIXUP, CRASH}),  # the days after it
    ("created<=2025-03", ALL - {BROKEN}),
    ("created~2025-03-13*", {MIXUP, CRASH}),
    ("pinned=true", {QUICK}),
    ("pinned=false", ALL - {QUICK}),
    ("archived=yes", {LR05}),
    ("note~lower", {LR05}),
    ("note=''", ALL - {LR05}),
    ("message~unreadable", {BROKEN}),
    ("sweep=digits-opt-lr", {LR05}),
    ("sweep!=digits-opt-lr", ALL - {LR05}),
    ("ablation~ablate-*", {CRASH}),
    # best and test: a run without them fails every comparison but !=
    ("best.val_acc>90%", {QUICK, LR05, MIXUP}),
    ("best.val_acc>0.94", {QUICK, LR05}),
    ("best.val_acc>=0.95", {QUICK, LR05}),
    ("best.val_acc=0.95", {LR05}),
    ("best.val_acc<0.5", set()),
    ("best.val_acc!=0.95", ALL - {LR05}),
    ("not best.val_acc>0.94", {MIXUP, CRASH, BROKEN}),
    ("best.epoch>=12", {LR05, MIXUP}),
    ("best.train_loss<0.1", {QUICK}),
    ("test.acc>=96%", {QUICK}),
    ("test.loss<0.06", {QUICK, LR05}),
    # config keys (a key missing from a section reads its default; no section: no value)
    ("optim.lr<=0.05", {LR05, MIXUP}),
    ("optim.lr=1e-2", {MIXUP}),
    ("optim.lr>0.01 or status=crashed", {QUICK, LR05, CRASH}),
    ("optim.name=adadelta", {MIXUP}),
    ("optim.lr!=0.1", ALL - {QUICK}),
    ("data.batch_size=128", {QUICK, LR05}),
    ("model.name~resnet*", {QUICK, LR05, MIXUP}),
    ("model.layers=3,3,2,3", {MIXUP}),
    ("model.layers~3,3,*", {MIXUP}),
    ("train.seed=7", {QUICK}),
    ("train.seed=0", {LR05, MIXUP, CRASH}),  # the default, where train has no seed
    ("train.epochs>=20", {MIXUP, CRASH}),
    # tags, globs
    ("tag:baseline", {QUICK}),
    ("tag:BASELINE*", {QUICK, MIXUP}),
    ("tag:base", set()),  # a tag is matched whole unless it has a wildcard
    ('tag:"sweep-me"', {LR05}),
    ("tag: lr", {LR05}),
    ("tags~base", {QUICK, MIXUP}),
    ("tags!~base", {LR05, CRASH, BROKEN}),
    ("name~digits-*", {QUICK, LR05, CRASH}),
    ("name~lr0", {LR05}),  # no wildcard: contains
    ("name~d?gits-l*", {LR05}),
    ("name!~digits*", {MIXUP, BROKEN}),
    # and, or, not, parentheses
    ("status=finished and not tag:baseline", {LR05, MIXUP}),
    ("(model=resnet24 or optim.lr=0.05) and best.val_acc>0.94", {LR05}),
    ("model=resnet24 or optim.lr=0.05 and best.val_acc>0.94", {MIXUP, LR05}),
    ("NOT status=finished AND Not status=failed", {CRASH}),
    ("not not pinned=true", {QUICK}),
    ("((digits) and (not (crash)))", {QUICK, LR05}),
    ("digits and best.val_acc>96%", {QUICK}),
]

INVALID: list[tuple[str, int, list[str]]] = [
    ("modle=resnet24", 1, ["unknown field 'modle'", "did you mean 'model'"]),
    ("lr<0.1", 1, ["unknown field 'lr'", "did you mean 'optim.lr'"]),
    ("optm.lr=0.1", 1, ["unknown field 'optm.lr'", "'optim.lr'"]),
    ("val_acc>0.5", 1, ["did you mean 'best.val_acc'"]),
    ("colour=red", 1, ["unknown field 'colour'", "a field is a run's", "a config key"]),
    ("created>=2025-13-45", 10, ["expected a date for created", "write YYYY-MM-DD"]),
    ("finished<yesterday", 10, ["expected a date for finished", "not 'yesterday'"]),
    ("best.val_acc>high", 14, ["expected a number for best.val_acc", "not 'high'"]),
    ("best.val_acc>90", 14, ["best.val_acc is a fraction", "write 0.9 or 90%"]),
    ("epoch>epochs", 7, ["expected a number for epoch", "not 'epochs'"]),
    ("optim.lr=fast", 10, ["expected a number for optim.lr"]),
    ("model=", 7, ["expected a value after '='", "(the end)"]),
    ("model=and", 7, ["expected a value after '='", "found 'and'"]),
    ("name~", 6, ["expected a value after '~'"]),
    ("(model=x", 9, ["expected ')'", "to close the '(' at column 1"]),
    ("model=x)", 8, ["unexpected ')'", "no '(' opens it"]),
    ("()", 2, ["expected a field, a word or '(' after '('", "found ')'"]),
    ("and digits", 1, ["expected a field, a word or '('", "found 'and'"]),
    ("digits or", 10, ["after 'or'", "(the end)"]),
    ("model=resnet24 and and", 20, ["after 'and'", "found 'and'"]),
    ("not", 4, ["after 'not'"]),
    ("=resnet24", 1, ["expected a field before '='"]),
    ("status=finsihed", 8, ["not a run status", "did you mean 'finished'", "one of queued"]),
    ("train.amp=fp32", 11, ["not a train.amp choice", "one of auto, off, bf16, fp16"]),
    ("pinned<1", 7, ["'<' needs an order", "pinned is true or false", "use = or !="]),
    ("pinned=maybe", 8, ["expected true or false for pinned"]),
    ("tags<3", 5, ["'<' needs an order", "tags"]),
    ("model.layers>3", 13, ["'>' needs an order", "a list"]),
    ("model.layers=3,x", 14, ["expected numbers for model.layers"]),
    ("best.val_acc~9", 13, ["'~' matches text", "best.val_acc is a number"]),
    ('name="digits', 6, ["unclosed quote", "close it with"]),
    ("digits ! crash", 8, ["unexpected '!'", "did you mean '!='"]),
    ("model:resnet24", 1, ["':' is only for tag:NAME", "write model=resnet24"]),
    ("tag:", 5, ["expected a tag name after 'tag:'"]),
    ('"model"=resnet24', 1, ["a field name is not quoted", "write model"]),
    ("(" * 60 + "digits" + ")" * 60, 51, ["more than 50 nested"]),
    ("not " * 51 + "digits", 201, ["more than 50 nested"]),
]


def test_the_tables_are_big_enough() -> None:
    assert len(VALID) + len(INVALID) >= 30 and len(INVALID) >= 10


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[q or "(empty)" for q, _ in VALID])
def test_a_query_matches_exactly_these_runs(text: str, expected: set[str]) -> None:
    query = api.parse_query(text)
    assert {r.name for r in RUNS if query.matches(r)} == expected


@pytest.mark.parametrize(("text", "column", "words"), INVALID, ids=[q[:40] for q, _, _ in INVALID])
def test_a_bad_query_names_the_column_and_what_was_expected(
    text: str, column: int, words: list[str]
) -> None:
    with pytest.raises(api.QueryError) as caught:
        api.parse_query(text)
    error = caught.value
    message = str(error)
    assert error.column == column, message
    assert f"at column {column}" in message
    for word in words:
        assert word in message
    assert "\n" not in message  # one line on the CLI, one line under the console's bar


def test_a_query_error_is_a_user_error_with_a_caret_under_the_column() -> None:
    with pytest.raises(api.UserError) as caught:
        api.parse_query("model=resnet24 and best.val_acc>")
    error = caught.value
    assert isinstance(error, api.QueryError)
    assert error.caret() == "model=resnet24 and best.val_acc>\n" + " " * 32 + "^"


def test_plain_words_mean_what_the_filter_bar_always_meant() -> None:
    """Every word somewhere in the id, name, model, dataset, status, preset, ablation group
    or sweep, any case: the Runs view's filter before the language."""

    def old_matches(run: RunRecord, words: list[str]) -> bool:
        group = run.ablation.group if run.ablation else ""
        sweep = run.sweep.name if run.sweep else ""
        fields = (run.id, run.name, run.model, run.dataset, run.status, run.preset, group, sweep)
        haystack = " ".join(str(v or "") for v in fields).lower()
        return all(w in haystack for w in words)

    for text in ("digits", "Finished digits", "0003", "resnet", "cifar10-resnet24", "x y", "-"):
        query = api.parse_query(text)
        for run in RUNS:
            assert query.matches(run) == old_matches(run, text.lower().split()), (text, run.name)


def test_every_config_key_is_a_field_and_compares_by_its_type() -> None:
    for info in api.field_infos():
        if info.is_list or info.base is str:
            text = f"{info.key}~x"
        else:
            text = f"{info.key}=true" if info.base is bool else f"{info.key}>=0"
        api.parse_query(text)
    with pytest.raises(api.QueryError, match="expected a number for data.batch_size"):
        api.parse_query("data.batch_size=big")
    with pytest.raises(api.QueryError, match="expected true or false for augment.hflip"):
        api.parse_query("augment.hflip=1")


def test_a_percentage_is_exact_at_the_edge() -> None:
    """57% is 0.57 exactly (57 * 0.01 is 0.5700000000000001): a run at 57/100 is at the edge."""
    run = RunRecord(
        id="edge", name="edge", status="finished", best=EpochStats(3, 0.5, 0.6, 0.7, 57 / 100)
    )
    for text in (
        "best.val_acc>=57%",
        "best.val_acc=57%",
        "best.val_acc<=57%",
        "best.val_acc>=0.57",
    ):
        assert api.parse_query(text).matches(run), text
    assert not api.parse_query("best.val_acc>57%").matches(run)
