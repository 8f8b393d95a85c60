"""The run configuration as a form: one tab per config section, one row per field.

Each row is a label, an input and a note (the field's help, or its validation error). What a
field is comes from the engine's field metadata (``engine.config.field_infos``): choices make
a Select, a bool a Toggle, a range the input's hint; the augment tab is laid out by the
augmentation registry (``engine.config.augmentations``): a switch per augmentation. The form
validates with the engine's ``check_dict``, which reports every problem at once, each on the
row of its key, so the rules live in one place: the engine.

Fields that only some architectures, optimizers or schedules read are shown only when they
apply; that comes from the catalog (``engine.catalog``), which arrives later from the helper
process (``set_registries``). Until then every field shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select, TabbedContent, TabPane

from engine.api import (
    AugmentationInfo,
    Catalog,
    FieldInfo,
    ModelEntry,
    RunConfig,
    base_key,
    field_info,
    list_augmentations,
)
from resnet_tui.widgets.config_fields import (
    SECTION_TITLES,
    FormResult,
    arch_fields,
    check_form,
    empty_sections,
    flat_values,
    format_value,
    help_text,
    infos_by_key,
    key_of_widget_id,
    parse_text,
    registry_keys,
    strip_key,
    uses_input,
    widget_id,
)
from resnet_tui.widgets.config_rows import FieldRow, GroupRow
from resnet_tui.widgets.toggle import Toggle

__all__ = ["SECTION_TITLES", "ConfigForm", "FieldRow", "FormResult", "GroupRow"]


class ConfigForm(Vertical):
    """Every field of a RunConfig, validated as you type.

    The values live in ``state`` (as their widgets hold them: text for inputs); a section's
    rows are mounted the first time its tab is shown, so the form opens quickly.
    """

    class Changed(Message):
        """The form's values changed (``result`` is the new validation)."""

        def __init__(self, form: ConfigForm, result: FormResult, key: str | None) -> None:
            super().__init__()
            self.form = form
            self.result = result
            self.key = key  # the field that changed, None for a bulk change

    def __init__(self, config: RunConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.base = config
        self.state: dict[str, Any] = self._state_of(config)
        self.catalog: Catalog | None = None  # the registries, once the helper has answered
        self.external_errors: dict[str, str] = {}
        self.result = FormResult(config)
        self._specs = infos_by_key()
        self._rows: dict[str, FieldRow] = {}  # mounted rows only
        self._offered: dict[str, list[tuple[str, Any]]] = {}  # the options each Select has
        self._mounted: set[str] = set()
        self._groups: dict[str, bool] = {}  # augmentation switch -> shown state
        self._pending_focus: str | None = None

    # ------------------------------------------------------------ state

    def _state_of(self, config: RunConfig) -> dict[str, Any]:
        flat = flat_values(config)
        return {
            key: format_value(flat[key]) if uses_input(info) else flat[key]
            for key, info in infos_by_key().items()
        }

    def value(self, key: str) -> Any:
        """The typed value of one field (None when it does not parse)."""
        spec = self._specs[key]
        raw = self.state[key]
        return parse_text(spec, raw)[0] if uses_input(spec) else raw

    def set_value(self, key: str, value: Any) -> None:
        """Set a field from a typed value (the widget follows when it is mounted)."""
        spec = self._specs[key]
        self.state[key] = format_value(value) if uses_input(spec) else value
        row = self._rows.get(key)
        if row is not None:
            self._show_value(row)

    def _show_value(self, row: FieldRow) -> None:
        key = row.spec.key
        widget, raw = row.widget, self.state[key]
        if isinstance(widget, Select):
            if raw is None:
                widget.clear()
                return
            self._offer(widget, key)
            widget.value = raw
        elif isinstance(widget, Checkbox):
            widget.value = bool(raw)
        elif isinstance(widget, Input) and widget.value != raw:
            widget.value = raw

    def _offer(self, select: Select[Any], key: str) -> None:
        """Give a Select the options the form knows for its key (the value included)."""
        options = self._choices(key)
        if options != self._offered.get(key):
            self._offered[key] = options
            select.set_options(options)

    # ------------------------------------------------------------ building rows

    def _choices(self, key: str) -> list[tuple[str, Any]]:
        spec = self._specs[key]
        names: list[Any] = []
        if spec.registry:
            names = self.catalog.names(spec.registry) if self.catalog else []
        elif spec.choices:
            names = list(spec.choices)
        elif spec.base is bool:
            return [("true", True), ("false", False)]
        current = self.state[key]
        if current is not None and current not in names:
            names.append(current)
        return [(str(n), n) for n in names]

    def _default_shown(self, spec: FieldInfo) -> str:
        """What an empty architecture field means for the chosen model."""
        info = self._model_entry()
        if spec.section != "model" or spec.name not in arch_fields() or info is None:
            return "default"
        default = info.defaults.get(spec.name)
        return "default: " + ("auto" if default is None else format_value(default))

    def _make_widget(self, spec: FieldInfo) -> Widget:
        wid, raw = widget_id(spec), self.state[spec.key]
        if spec.registry or spec.choices or (spec.base is bool and spec.optional):
            options = self._offered[spec.key] = self._choices(spec.key)
            blank = not spec.registry and spec.optional
            return Select(
                options,
                value=raw if raw is not None else Select.NULL,
                allow_blank=blank,
                prompt=self._default_shown(spec) if blank else "Select",
                compact=True,
                id=wid,
                classes="field-input",
            )
        if spec.base is bool:
            return Toggle(bool(raw), id=wid, classes="field-input")
        return Input(
            raw,
            compact=True,
            id=wid,
            classes="field-input",
            placeholder=self._default_shown(spec) if spec.optional else spec.describe(),
            select_on_focus=False,
        )

    def _row(self, spec: FieldInfo, label: str | None = None, classes: str = "") -> FieldRow:
        row = FieldRow(spec, self._make_widget(spec), label, classes)
        self._rows[spec.key] = row
        return row

    def _section_rows(self, section: str) -> list[Widget]:
        specs = [s for s in self._specs.values() if s.section == section]
        if section != "augment":
            return [self._row(spec) for spec in specs]
        rows: list[Widget] = []
        done: set[str] = set()
        for aug in list_augmentations():
            switch = _own_switch(aug)
            if switch:  # an on/off field is its own switch
                rows.append(self._row(self._specs[f"augment.{switch}"], aug.label))
                done.add(switch)
                continue
            if aug.switches:
                on_ = self._group_on(aug)
                self._groups[aug.name] = on_
                rows.append(GroupRow(aug, on_))
                for name in (*aug.switches, *aug.params):
                    row = self._row(self._specs[f"augment.{name}"], f"  {name}", "sub")
                    row.widget.disabled = not on_
                    rows.append(row)
                    done.add(name)
            for name in aug.keys:  # what it reads whether on or off (mixup's mix_prob)
                if name not in done:
                    rows.append(self._row(self._specs[f"augment.{name}"]))
                    done.add(name)
        rows += [self._row(s) for s in specs if s.name not in done]
        return rows

    def compose(self) -> ComposeResult:
        with TabbedContent(id="form-tabs"):
            for section, title in SECTION_TITLES.items():
                with TabPane(title, id=f"tab-{section}"):
                    with VerticalScroll(classes="form-scroll", id=f"scroll-{section}"):
                        if section == "model":
                            self._mounted.add(section)
                            yield from self._section_rows(section)

    def on_mount(self) -> None:
        self._apply_registries()
        self.revalidate(None)

    @on(TabbedContent.TabActivated, "#form-tabs")
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        section = (event.pane.id or "").removeprefix("tab-")
        await self._ensure_section(section)
        self._focus_pending(section)

    async def _ensure_section(self, section: str) -> None:
        if section in self._mounted or section not in SECTION_TITLES:
            return
        self._mounted.add(section)
        rows = self._section_rows(section)
        await self.query_one(f"#scroll-{section}", VerticalScroll).mount_all(rows)
        self._apply_registries()

    def _focus_pending(self, shown: str | None = None) -> None:
        """Focus the field asked for (``focus_field``, ``focus_section``); ``shown``: the
        section whose tab was just activated (keys pressed in a burst activate several)."""
        key = self._pending_focus
        if key is None or (shown is not None and key.partition(".")[0] != shown):
            return  # another section's tab: wait for the one asked for
        self._pending_focus = None
        if key.endswith(".*"):  # the section's first field
            tabs = self.query_one(TabbedContent)
            for widget in tabs.get_pane(f"tab-{key[:-2]}").query(".field-input"):
                row = widget.parent
                if widget.display and row is not None and row.display and not widget.disabled:
                    self.call_after_refresh(widget.focus)
                    return
            return
        row = self._rows.get(key)
        if row is not None:
            self.call_after_refresh(row.widget.focus)

    def focus_section(self, section: str) -> None:
        """Show a section's tab and focus its first field, once its rows are mounted (a
        section is mounted the first time it is shown)."""
        self._pending_focus = f"{section}.*"
        tabs = self.query_one(TabbedContent)
        if tabs.active == f"tab-{section}":
            self._focus_pending()
        else:
            tabs.active = f"tab-{section}"  # TabActivated mounts it, then focuses

    # ------------------------------------------------------------ loading a config

    def load(self, config: RunConfig) -> None:
        """Show ``config`` (a preset, or a past run's config to edit)."""
        self.base = config
        self.state = self._state_of(config)
        for row in self._rows.values():
            self._show_value(row)
        self._sync_groups()
        self._apply_registries()
        self.revalidate(None)

    # ------------------------------------------------------------ visibility

    def _model_entry(self) -> ModelEntry | None:
        return self.catalog.model(self.state["model.name"]) if self.catalog else None

    def _applicable(self, spec: FieldInfo) -> bool:
        if self.catalog is None:
            return True
        if spec.section == "model":
            info = self._model_entry()
            return info is None or spec.name == "name" or spec.name in info.fields
        if spec.section in ("optim", "schedule"):
            shown = self.catalog.shown_keys(spec.section, self.state[f"{spec.section}.name"])
            return shown is None or spec.name in shown
        return True

    def set_registries(self, registries: Mapping[str, Any] | Catalog) -> None:
        """The catalog from the helper process (``engine.catalog``, as its JSON object)."""
        self.catalog = (
            registries if isinstance(registries, Catalog) else Catalog.from_json(registries)
        )
        for key in registry_keys():
            row = self._rows.get(key)
            if row is not None:
                self._show_value(row)
        self._apply_registries()
        self.revalidate(None)

    def _describe(self, registry: str, name: Any) -> str | None:
        """The note of a registry-named field: the chosen entry's description."""
        c = self.catalog
        if c is None:
            return None
        d = c.dataset(name) if registry == "datasets" else None
        if d is not None:
            return f"{d.description} [{d.channels}x{d.image_size}px, {d.num_classes} classes]"
        m = c.model(name) if registry == "models" else None
        if m is not None:
            return f"{m.description} [{m.family}]"
        if registry not in ("optimizers", "schedules"):
            return None
        entry = c.optimizer(name) if registry == "optimizers" else c.schedule(name)
        return entry.description if entry is not None else None

    def _apply_registries(self) -> None:
        """Show only the applicable rows; empty architecture fields show the model default."""
        for row in self._rows.values():
            spec = row.spec
            row.display = self._applicable(spec)
            if spec.section != "model" or spec.name not in arch_fields():
                continue
            shown = self._default_shown(spec)
            widget = row.widget
            if isinstance(widget, Input):
                widget.placeholder = shown
            elif isinstance(widget, Select) and widget.prompt != shown:
                widget.prompt = shown  # Select redraws its blank entry and placeholder
        self._update_notes()

    def _model_changed(self) -> None:
        """A new architecture: its own defaults replace the previous model's settings."""
        info = self._model_entry()
        for spec in self._specs.values():
            if spec.section != "model" or spec.name == "name":
                continue
            if spec.name in arch_fields() or (info is not None and spec.name not in info.fields):
                self.set_value(spec.key, spec.default)

    # ------------------------------------------------------------ augment switches

    def _group_on(self, aug: AugmentationInfo) -> bool:
        return any(self._switch_value(k) for k in aug.switches)

    def _switch_value(self, name: str) -> bool:
        value = self.value(f"augment.{name}")
        return bool(value) if isinstance(value, int | float) else True

    def _switched(self) -> list[AugmentationInfo]:
        """The augmentations shown as a switch row of their own."""
        return [a for a in list_augmentations() if a.switches and not _own_switch(a)]

    def _enable(self, aug: AugmentationInfo, on_: bool) -> None:
        for name in (*aug.switches, *aug.params):
            row = self._rows.get(f"augment.{name}")
            if row is not None:
                row.widget.disabled = not on_

    def _sync_groups(self) -> None:
        for aug in self._switched():
            on_ = self._group_on(aug)
            self._groups[aug.name] = on_
            for box in self.query(f"#aug-{aug.name}"):
                assert isinstance(box, Checkbox)
                box.value = on_
            self._enable(aug, on_)

    @on(Checkbox.Changed, "GroupRow Checkbox")
    def _group_toggled(self, event: Checkbox.Changed) -> None:
        event.stop()
        name = (event.checkbox.id or "").removeprefix("aug-")
        if self._groups.get(name) == event.value:
            return  # the form set it
        self._groups[name] = event.value
        aug = next(a for a in self._switched() if a.name == name)
        off = aug.off_values()
        for key, on_value in aug.switches.items():
            if event.value and not self.value(f"augment.{key}"):
                self.set_value(f"augment.{key}", on_value)
            elif not event.value:
                self.set_value(f"augment.{key}", off[key])
        self._enable(aug, event.value)
        self.revalidate(f"augment.{next(iter(aug.switches))}")

    # ------------------------------------------------------------ change handling

    @staticmethod
    def _widget_raw(widget: Widget) -> Any:
        if isinstance(widget, Select):
            return None if widget.value is Select.NULL else widget.value
        if isinstance(widget, Checkbox | Input):
            return widget.value
        return None

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Checkbox.Changed | Select.Changed) -> None:
        widget = event.control
        key = key_of_widget_id(widget.id) if widget is not None else None
        if key is None or key not in self.state:
            return
        event.stop()
        raw = self._widget_raw(widget)
        if raw == self.state[key]:
            return  # the form set it, or the widget announced its initial value
        self.state[key] = raw
        if key == "model.name":
            self._model_changed()
        if key in ("model.name", "optim.name", "schedule.name"):
            self._apply_registries()
        if key.startswith("augment."):
            self._sync_groups()
        self.revalidate(key)

    # ------------------------------------------------------------ validation

    def collect(self) -> FormResult:
        """Parse every field and check the config; every error is mapped to its field."""
        parse_errors: dict[str, str] = {}
        values = empty_sections()
        fallback = flat_values(self.base)
        for key, spec in self._specs.items():
            if spec.section == "model" and not self._applicable(spec):
                value: Any = spec.default
            elif uses_input(spec):
                value, error = parse_text(spec, self.state[key])
                if error:
                    parse_errors[key] = error
                    value = fallback.get(key, spec.default)  # so the rest is still checked
            else:
                value = self.state[key]
            values[spec.section][spec.name] = value
        return check_form(values, parse_errors)

    def revalidate(self, key: str | None) -> FormResult:
        self.external_errors.clear()
        self.result = self.collect()
        self._update_notes()
        self.post_message(self.Changed(self, self.result, key))
        return self.result

    def show_external_error(self, key: str | None, message: str) -> bool:
        """Show an error found elsewhere (building the model) at its field; False: no field."""
        key = base_key(key)
        if key not in self._specs:
            return False
        self.external_errors[key] = message
        self._update_notes()
        return True

    def errors(self) -> dict[str, str]:
        return {**self.result.errors, **self.external_errors}

    def _update_notes(self) -> None:
        errors = self.errors()
        for key, row in self._rows.items():
            error = errors.get(key)
            registry = row.spec.registry
            info = self._describe(registry, self.state[key]) if registry else None
            row.set_note(strip_key(error, key) if error else None, info)
        tabs = self.query_one(TabbedContent)
        for section, title in SECTION_TITLES.items():
            count = sum(1 for k in errors if k.startswith(section + "."))
            label = f"{title} ✗{count}" if count else title
            tab = tabs.get_tab(f"tab-{section}")
            if tab.label_text != label:
                tab.label = label

    # ------------------------------------------------------------ navigation

    def focus_field(self, key: str) -> None:
        key = base_key(key) or key
        spec = self._specs.get(key)
        if spec is None:
            return
        self._pending_focus = key
        tabs = self.query_one(TabbedContent)
        if tabs.active == f"tab-{spec.section}":
            self._focus_pending()
        else:
            tabs.active = f"tab-{spec.section}"  # TabActivated mounts it, then focuses

    def key_of_focused(self) -> str | None:
        focused = self.screen.focused
        return key_of_widget_id(focused.id) if focused is not None else None

    def help_for(self, key: str) -> str:
        spec = self._specs.get(key)
        return help_text(spec) if spec is not None else ""


def _own_switch(aug: AugmentationInfo) -> str | None:
    """The key of an augmentation switched by one on/off field of its own (hflip), else None."""
    if len(aug.switches) != 1 or aug.params:
        return None
    (name,) = aug.switches
    return name if field_info(f"augment.{name}").base is bool else None
