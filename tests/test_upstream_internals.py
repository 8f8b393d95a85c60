"""Every private name of a library that the project still uses, checked in one place.

Each is a deliberate choice (the module that uses it says why); pyproject pins the tested
ranges (textual 8.2, optuna 5, torch 2.14). An upgrade that moves one of them fails here,
loudly and by name, before it breaks a view or a sweep quietly. One test per library.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from rich.text import Text


def test_textual_internals() -> None:
    """widgets/footer.py builds Textual's own footer keys; widgets/table.py (FastTable)
    overrides DataTable's sizing hook and evicts one row from its render caches."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer
    from textual.widgets._footer import FooterKey, FooterLabel

    from resnet_tui.widgets.table import FastTable

    assert issubclass(FooterKey, object) and issubclass(FooterLabel, object)
    assert list(inspect.signature(FooterKey).parameters)[:4] == [
        "key",
        "key_display",
        "description",
        "action",
    ]
    assert "bindings_changed" in vars(Footer)  # KeyFooter learns the keys are known there
    hook = vars(DataTable)["_update_dimensions"]
    assert list(inspect.signature(hook).parameters) == ["self", "new_rows"]

    rows = [
        ("a", Text(" "), Text("first run"), Text("98.33%", justify="right")),
        ("b", Text(" "), Text("a longer name of a run"), Text("-", justify="right")),
        ("c", Text(" "), "plain [b]markup[/b]", Text("7.10%", justify="right")),
    ]

    class Tables(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="stock")
            yield FastTable(id="fast")

    async def check() -> None:
        app = Tables()
        async with app.run_test(size=(80, 24)) as pilot:
            stock = app.query_one("#stock", DataTable)
            fast = app.query_one("#fast", FastTable)
            for table in (stock, fast):
                for key in ("sel", "name", "acc"):
                    table.add_column(key, key=key)
                for key, *cells in rows:
                    table.add_row(*cells, key=key)
            await pilot.pause()
            # FastTable's sizing agrees with DataTable's own, cell for cell.
            widths = [[c.content_width for c in t.ordered_columns] for t in (stock, fast)]
            assert widths[0] == widths[1]
            assert stock.virtual_size == fast.virtual_size
            for name in (
                "_data",
                "_row_locations",
                "_column_locations",
                "_cell_render_cache",
                "_row_render_cache",
                "_row_renderable_cache",
                "_line_cache",
            ):
                assert hasattr(fast, name), name
            before = fast.render_line(2).text  # the header, then row "a", then row "b"
            assert "●" not in before
            # set_cell evicts row "b" from the caches by their key layout: a layout that
            # changed upstream would leave the old mark on screen.
            fast.set_cell("b", "sel", Text("●"))
            stock.update_cell("b", "sel", Text("●"))
            await pilot.pause()
            assert fast.render_line(2).text == stock.render_line(2).text
            assert "●" in fast.render_line(2).text
            assert fast.render_line(1).text == stock.render_line(1).text

    asyncio.run(check())


def test_optuna_internals() -> None:
    """engine/sweep/driver.py writes trial attributes through ``study._storage`` by
    ``FrozenTrial._trial_id`` and rebuilds a ``Trial`` by hand to report and prune."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    asked = study.ask()
    frozen = study.trials[0]
    trial_id: Any = frozen._trial_id
    assert isinstance(trial_id, int)
    study._storage.set_trial_user_attr(trial_id, "abandoned", True)
    assert study._storage.get_trial(trial_id).user_attrs["abandoned"] is True
    rebuilt = optuna.trial.Trial(study, trial_id)
    assert rebuilt.number == asked.number
    rebuilt.report(0.5, 1)
    assert study._storage.get_trial(trial_id).intermediate_values == {1: 0.5}


def test_torch_internals() -> None:
    """engine/launch.py asks torchrun's parser which options this torch knows (its
    ``_actions``); engine/ema.py uses ``torch._foreach_lerp_`` and unwraps torch.compile's
    ``_orig_mod`` (as does engine/models/registry.py)."""
    import torch
    from torch.distributed.run import get_args_parser

    known = {o for action in get_args_parser()._actions for o in action.option_strings}
    assert {"--nproc-per-node", "--nnodes", "--max-restarts", "--rdzv-endpoint"} <= known
    target, source = [torch.zeros(2)], [torch.ones(2)]
    torch._foreach_lerp_(target, source, 0.25)
    assert torch.equal(target[0], torch.full((2,), 0.25))
    model = torch.nn.Linear(2, 2)
    assert torch.compile(model)._orig_mod is model  # wrapping alone compiles nothing
