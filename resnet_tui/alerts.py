"""The console's run alerts: a toast in whatever view is open, and the terminal bell, when any
run of the store (started here or anywhere else) ends.

``RunAlerts`` compares each new list of runs with the previous one: a run that was queued or
running and is now finished, failed, crashed, diverged or stopped alerts once. Runs that had
already ended when the console opened never alert; a run first seen already ended after the
console's first full read (it started and ended between two polls) does. A stopped run (the
user asked) shows a toast but does not ring: the bell is for what happens while the user looks
elsewhere. The settings (``alerts.toast``, ``alerts.bell``) are read when an alert happens, so
``resnet-tui settings set alerts.bell false`` takes effect at once. The user's alert command
is not run here: the trainer that ended the run runs it (``engine.alerts``).

This module imports neither Textual nor torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine import api
from resnet_tui.widgets.format import best_val_acc, pct, run_label, test_acc

ENDS = api.ALERT_ENDS  # the statuses that end a run, as the engine announces them
SILENT = ("stopped",)  # a toast, no bell
SEVERITY = {"failed": "error", "crashed": "error", "diverged": "warning"}
TITLE = "run ended"


def alert_text(run: api.RunRecord) -> str:
    """``digits-lr-0.1 finished: best val 97.22%, test 96.94%`` (what is known of it)."""
    parts = []
    if best_val_acc(run) is not None:
        parts.append(f"best val {pct(best_val_acc(run))}")
    if test_acc(run) is not None:
        parts.append(f"test {pct(test_acc(run))}")
    return f"{run_label(run)} {run.status}" + (f": {', '.join(parts)}" if parts else "")


class RunAlerts:
    """Tells ``notify`` (a toast) and ``bell`` about the runs that ended since the last list."""

    def __init__(
        self,
        notify: Callable[..., Any],
        bell: Callable[[], Any],
        settings: Callable[[], api.Settings] = lambda: api.load_settings(),
    ) -> None:
        self._notify, self._bell, self._settings = notify, bell, settings
        self._known: dict[str, str] | None = None
        self._complete = False  # a full read has been seen (a big store's first is partial)
        self._settings_error = ""

    def ended(self, runs: Sequence[api.RunRecord], complete: bool = True) -> list[api.RunRecord]:
        """The runs of ``runs`` that ended since the previous call (none at the first)."""
        before, self._known = self._known, {r.id: r.status for r in runs}
        was_complete, self._complete = self._complete, self._complete or complete
        if before is None:
            return []
        out = []
        for run in runs:
            old = before.get(run.id)
            if run.status in ENDS and (old in api.ACTIVE or (old is None and was_complete)):
                out.append(run)
        return out

    def update(self, runs: Sequence[api.RunRecord], complete: bool = True) -> None:
        """Show a toast (and ring) for each run that ended since the previous list."""
        ended = self.ended(runs, complete)
        if not ended:
            return
        try:
            alerts = self._settings().alerts
        except api.UserError as exc:  # a bad settings file: say so once, alert as by default
            alerts = api.Settings().alerts
            if str(exc) != self._settings_error:
                self._settings_error = str(exc)
                self._notify(
                    str(exc), title="settings", severity="warning", timeout=10, markup=False
                )
        if alerts.toast:
            for run in ended:
                severity = SEVERITY.get(run.status, "information")
                self._notify(
                    alert_text(run), title=TITLE, severity=severity, timeout=8, markup=False
                )
        if alerts.bell and any(run.status not in SILENT for run in ended):
            self._bell()
