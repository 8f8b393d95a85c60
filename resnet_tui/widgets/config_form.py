"""The run configuration as a form: one tab per config section, one row per field.

Each row is a label, an input (Input, Checkbox or Select, chosen from the field's type and
``engine.config.CHOICES``) and a note: the field's help, or its validation error. The form
validates by building the ``RunConfig`` itself (``engine.config.from_dict``) and maps each
``ConfigError.key`` back to its row, so the rules live in one place: the engine.

Fields that only some architectures, optimizers or schedules read are shown only when they
apply (``ModelInfo.fields``, ``OptimizerInfo.keys``, ``ScheduleInfo.keys``); the registries
arrive later from the helper process (``set_registries``), until then every field shows.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static, TabbedContent, TabPane

from engine import config as config_mod
from engine.config import CHOICES, SECTIONS, ConfigError, RunConfig, coerce, describe_type
from engine.config import from_dict as config_from_dict
from resnet_tui.widgets.toggle import Toggle

SECTION_TITLES = {
    "model": "Model",
    "data": "Data",
    "augment": "Augment",
    "optim": "Optimizer",
    "schedule": "Schedule",
    "train": "Training",
}
# Choices that come from a registry (filled in by set_registries).
REGISTRY_KEYS = {
    "model.name": "models",
    "data.name": "datasets",
    "optim.name": "optimizers",
    "schedule.name": "schedules",
}
ALWAYS_OPTIM = ("name", "grad_clip", "decay_norm_and_bias")
ALWAYS_SCHEDULE = ("name", "warmup_epochs")
# ModelConfig fields left at None mean "the model's own default".
ARCH_FIELDS = tuple(
    f.name for f in dataclasses.fields(SECTIONS["model"]) if f.name != "name" and f.default is None
)


@dataclass(frozen=True)
class AugmentGroup:
    """One augmentation: a switch, the fields it turns on (with the values it turns them on
    with) and further parameters that only matter while it is on."""

    id: str
    title: str
    switches: dict[str, Any]  # field -> value when switched on; switched off = 0
    params: tuple[str, ...] = ()


AUGMENT_GROUPS = (
    AugmentGroup("crop", "random crop", {"crop_padding": 4}),
    AugmentGroup("rotation", "rotation", {"rotation": 15.0}),
    AugmentGroup("cutout", "cutout", {"cutout_holes": 3, "cutout_length": 4}),
    AugmentGroup("noise", "gaussian noise", {"noise_std": 0.2}),
    AugmentGroup("mixup", "mixup", {"mixup_alpha": 1.0}),
    AugmentGroup("cutmix", "cutmix", {"cutmix_alpha": 1.0}),
    AugmentGroup("randaugment", "randaugment", {"randaugment_ops": 2}, ("randaugment_magnitude",)),
    AugmentGroup("smoothing", "label smoothing", {"label_smoothing": 0.1}),
    AugmentGroup("resize", "resize + crop", {"resize": 256, "crop_size": 224}),
)
GROUP_HELP = {
    "crop": "zero-pad then crop back at a random offset (4 for CIFAR)",
    "rotation": "random rotation up to ± degrees",
    "cutout": "erase square holes (seed 001: 3 holes of length 4)",
    "noise": "add gaussian noise to the inputs (seed 000: std 0.2)",
    "mixup": "blend pairs of images and labels (seed 003)",
    "cutmix": "paste a patch of another image, mix the labels",
    "randaugment": "random photometric/geometric ops per image",
    "smoothing": "soften the one-hot targets",
    "resize": "resize the short side, center-crop (transfer: 256/224)",
}
GROUPED = {k for g in AUGMENT_GROUPS for k in (*g.switches, *g.params)}


@dataclass(frozen=True)
class FieldSpec:
    key: str  # "optim.lr"
    section: str
    name: str
    tp: Any  # the annotation
    default: Any
    help: str

    @property
    def optional(self) -> bool:
        return typing.get_origin(self.tp) in (typing.Union, types.UnionType)

    @property
    def base(self) -> Any:
        """The annotation without its None."""
        if self.optional:
            (inner,) = [a for a in typing.get_args(self.tp) if a is not type(None)]
            return inner
        return self.tp

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base) is list

    @property
    def widget_id(self) -> str:
        return f"f-{self.section}-{self.name}"


@cache
def field_help() -> dict[str, str]:
    """Each field's comment in engine/config.py (trailing, inside a wrapped value, or the
    comment block just above it): the help text of its row."""
    try:
        source = inspect.getsource(config_mod)
    except (OSError, TypeError):
        return {}
    class_to_section = {cls.__name__: name for name, cls in SECTIONS.items()}
    out: dict[str, str] = {}
    section: str | None = None
    above: list[str] = []  # comment lines since the previous field
    wrapped: str | None = None  # a field whose value continues on the next lines
    for line in source.splitlines():
        header = re.match(r"class (\w+)\b", line)
        if header:
            section, above, wrapped = class_to_section.get(header.group(1)), [], None
            continue
        if section is None:
            continue
        if wrapped is not None:
            key = f"{section}.{wrapped}"
            if "#" in line and key not in out:
                out[key] = line.split("#", 1)[1].strip()
            if line.strip().startswith(")"):
                wrapped = None
            continue
        if line.startswith("    #"):
            above.append(line.strip().lstrip("#").strip())
            continue
        field = re.match(r"    (\w+): [^#]*?(?:#\s*(.+))?$", line)
        if field:
            name, trailing = field.group(1), field.group(2)
            if trailing:
                out[f"{section}.{name}"] = trailing.strip()
            elif line.rstrip().endswith("("):
                wrapped = name
            elif above:
                out[f"{section}.{name}"] = " ".join(above)
            above = []
        elif not line.strip():
            above = []
    return out


@cache
def field_specs() -> tuple[FieldSpec, ...]:
    helps = field_help()
    specs = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            key = f"{section}.{f.name}"
            specs.append(
                FieldSpec(key, section, f.name, hints[f.name], default, helps.get(key, ""))
            )
    return tuple(specs)


def spec_for(key: str) -> FieldSpec | None:
    return next((s for s in field_specs() if s.key == key), None)


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_text(spec: FieldSpec, text: str) -> tuple[Any, str | None]:
    """A typed value from an input's text, or an error that says what to type."""
    text = text.strip()
    base = spec.base
    if not text:
        if spec.optional:
            return None, None
        if spec.is_list:
            return [], None
        if base is str:
            return "", None
        return None, f"{spec.key}: needs {describe_type(base)}"
    if base is str:
        return text, None
    if spec.is_list and "," not in text and not text.startswith("["):
        text = ",".join(text.split()) + ("," if len(text.split()) == 1 else "")
    value = config_mod.parse_value(text)
    try:
        return coerce(value, spec.tp, spec.key), None
    except ConfigError as exc:
        return None, str(exc)


def base_key(key: str | None) -> str | None:
    """'model.layers[2]' -> 'model.layers'."""
    return key.split("[", 1)[0] if key else key


def strip_key(message: str, key: str) -> str:
    """The message without its leading 'key: ' (the row already names the key)."""
    return message[len(key) + 2 :] if message.startswith(key + ": ") else message


@dataclass
class FormResult:
    config: RunConfig | None
    errors: dict[str, str] = field(default_factory=dict)  # field key -> message
    general: str = ""  # an error no row can show

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors and not self.general

    def first_error(self) -> tuple[str | None, str]:
        if self.errors:
            key = next(iter(self.errors))
            return key, self.errors[key]
        return None, self.general


def _select_options(select: Select[Any]) -> list[tuple[Any, Any]]:
    """A Select's options without its blank entry."""
    return [(p, v) for p, v in select._options if v is not Select.NULL]


_UNSEEN = object()


class FieldRow(Horizontal):
    """Label, input widget, note."""

    def __init__(
        self, spec: FieldSpec, widget: Widget, label: str | None = None, classes: str = ""
    ) -> None:
        super().__init__(
            classes=f"field-row {classes}".strip(), id=f"row-{spec.section}-{spec.name}"
        )
        self.spec = spec
        self.widget = widget
        self.label_text = label or spec.name
        self.help = spec.help
        self._shown: tuple[bool, str] = (False, spec.help)

    def compose(self) -> ComposeResult:
        yield Label(self.label_text, classes="field-label")
        yield self.widget
        yield Static(self.help, classes="field-note", markup=False)

    def set_note(self, error: str | None, info: str | None = None) -> None:
        shown = (bool(error), error if error else (info if info is not None else self.help))
        if shown == self._shown:
            return
        self._shown = shown
        self.set_class(shown[0], "-invalid")
        self.query_one(".field-note", Static).update(shown[1])


class GroupRow(Horizontal):
    """An augmentation switch."""

    def __init__(self, group: AugmentGroup, on_: bool) -> None:
        super().__init__(classes="field-row group-row", id=f"row-aug-{group.id}")
        self.group = group
        self.on_ = on_

    def compose(self) -> ComposeResult:
        yield Label(self.group.title, classes="field-label")
        yield Toggle(self.on_, id=f"aug-{self.group.id}", classes="field-input")
        yield Static(GROUP_HELP.get(self.group.id, ""), classes="field-note", markup=False)


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
        self.registries: dict[str, Any] | None = None
        self.external_errors: dict[str, str] = {}
        self.result = FormResult(config)
        self._specs = {s.key: s for s in field_specs()}
        self._rows: dict[str, FieldRow] = {}  # mounted rows only
        self._mounted: set[str] = set()
        self._groups: dict[str, bool] = {}  # augmentation switch -> shown state
        self._pending_focus: str | None = None

    # ------------------------------------------------------------ state

    @staticmethod
    def _uses_input(spec: FieldSpec) -> bool:
        return not (spec.key in REGISTRY_KEYS or spec.key in CHOICES or spec.base is bool)

    def _state_of(self, config: RunConfig) -> dict[str, Any]:
        flat = self._flat(config)
        return {
            spec.key: format_value(flat[spec.key]) if self._uses_input(spec) else flat[spec.key]
            for spec in field_specs()
        }

    @staticmethod
    def _flat(config: RunConfig) -> dict[str, Any]:
        return {f"{s}.{k}": v for s, d in config.to_dict().items() for k, v in d.items()}

    def _raw(self, key: str) -> Any:
        return self.state[key]

    def value(self, key: str) -> Any:
        """The typed value of one field (None when it does not parse)."""
        spec = self._specs[key]
        raw = self.state[key]
        return parse_text(spec, raw)[0] if self._uses_input(spec) else raw

    def set_value(self, key: str, value: Any) -> None:
        """Set a field from a typed value (the widget follows when it is mounted)."""
        spec = self._specs[key]
        self.state[key] = format_value(value) if self._uses_input(spec) else value
        row = self._rows.get(key)
        if row is not None:
            self._show_value(row)

    def _show_value(self, row: FieldRow) -> None:
        widget, raw = row.widget, self.state[row.spec.key]
        if isinstance(widget, Select):
            if raw is None:
                widget.clear()
                return
            options = _select_options(widget)
            if raw not in [v for _, v in options]:
                widget.set_options([*options, (str(raw), raw)])
            widget.value = raw
        elif isinstance(widget, Checkbox):
            widget.value = bool(raw)
        elif isinstance(widget, Input) and widget.value != raw:
            widget.value = raw

    # ------------------------------------------------------------ building rows

    def _choices(self, key: str) -> list[tuple[str, Any]]:
        kind = REGISTRY_KEYS.get(key)
        names: list[Any] = []
        if kind and self.registries:
            names = [item["name"] for item in self.registries.get(kind, [])]
        elif key in CHOICES:
            names = list(CHOICES[key])
        elif self._specs[key].base is bool:
            return [("true", True), ("false", False)]
        current = self.state[key]
        if current is not None and current not in names:
            names.append(current)
        return [(str(n), n) for n in names]

    def _default_shown(self, spec: FieldSpec) -> str:
        """What an empty architecture field means for the chosen model."""
        info = self._model_info()
        if spec.section != "model" or spec.name not in ARCH_FIELDS or info is None:
            return "default"
        default = info["defaults"].get(spec.name)
        return "default: " + ("auto" if default is None else format_value(default))

    def _make_widget(self, spec: FieldSpec) -> Widget:
        wid, raw = spec.widget_id, self.state[spec.key]
        if spec.key in REGISTRY_KEYS:
            return Select(
                self._choices(spec.key),
                value=raw,
                allow_blank=False,
                compact=True,
                id=wid,
                classes="field-input",
            )
        if spec.key in CHOICES or (spec.base is bool and spec.optional):
            return Select(
                self._choices(spec.key),
                value=raw if raw is not None else Select.NULL,
                allow_blank=spec.optional,
                prompt=self._default_shown(spec),
                compact=True,
                id=wid,
                classes="field-input",
            )
        if spec.base is bool:
            return Toggle(bool(raw), id=wid, classes="field-input")
        placeholder = self._default_shown(spec) if spec.optional else describe_type(spec.base)
        return Input(
            raw,
            compact=True,
            id=wid,
            classes="field-input",
            placeholder=placeholder,
            select_on_focus=False,
        )

    def _row(self, spec: FieldSpec, label: str | None = None, classes: str = "") -> FieldRow:
        row = FieldRow(spec, self._make_widget(spec), label, classes)
        self._rows[spec.key] = row
        return row

    def _section_rows(self, section: str) -> list[Widget]:
        specs = [s for s in field_specs() if s.section == section]
        if section != "augment":
            return [self._row(spec) for spec in specs]
        by_key = {s.key: s for s in specs}
        rows: list[Widget] = [self._row(by_key["augment.hflip"], "horizontal flip")]
        for group in AUGMENT_GROUPS:
            on_ = self._group_on(group)
            self._groups[group.id] = on_
            rows.append(GroupRow(group, on_))
            for name in (*group.switches, *group.params):
                row = self._row(by_key[f"augment.{name}"], f"  {name}", "sub")
                row.widget.disabled = not on_
                rows.append(row)
        rows += [self._row(s) for s in specs if s.name not in GROUPED and s.key != "augment.hflip"]
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
        self._focus_pending()

    async def _ensure_section(self, section: str) -> None:
        if section in self._mounted or section not in SECTION_TITLES:
            return
        self._mounted.add(section)
        rows = self._section_rows(section)
        await self.query_one(f"#scroll-{section}", VerticalScroll).mount_all(rows)
        self._apply_registries()

    def _focus_pending(self) -> None:
        key, self._pending_focus = self._pending_focus, None
        row = self._rows.get(key) if key else None
        if row is not None:
            self.call_after_refresh(row.widget.focus)

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

    def _model_info(self) -> dict[str, Any] | None:
        if not self.registries:
            return None
        name = self.state["model.name"]
        return next((m for m in self.registries["models"] if m["name"] == name), None)

    def _applicable(self, spec: FieldSpec) -> bool:
        if not self.registries:
            return True
        if spec.section == "model":
            info = self._model_info()
            return info is None or spec.name == "name" or spec.name in info["fields"]
        if spec.section in ("optim", "schedule"):
            kind = "optimizers" if spec.section == "optim" else "schedules"
            always = ALWAYS_OPTIM if spec.section == "optim" else ALWAYS_SCHEDULE
            name = self.state[f"{spec.section}.name"]
            info = next((o for o in self.registries[kind] if o["name"] == name), None)
            return info is None or spec.name in always or spec.name in info["keys"]
        return True

    def set_registries(self, registries: dict[str, Any]) -> None:
        self.registries = registries
        for key in REGISTRY_KEYS:
            row = self._rows.get(key)
            if row is not None:
                select = row.widget
                assert isinstance(select, Select)
                select.set_options(self._choices(key))
                self._show_value(row)
        self._apply_registries()
        self.revalidate(None)

    def _describe(self, kind: str, name: Any) -> str | None:
        if not self.registries:
            return None
        item = next((i for i in self.registries.get(kind, []) if i["name"] == name), None)
        if item is None:
            return None
        extra = ""
        if kind == "datasets":
            extra = f" [{item['channels']}x{item['image_size']}px, {item['num_classes']} classes]"
        if kind == "models":
            extra = f" [{item['family']}]"
        return f"{item['description']}{extra}"

    def _apply_registries(self) -> None:
        """Show only the applicable rows; empty architecture fields show the model default."""
        for row in self._rows.values():
            spec = row.spec
            row.display = self._applicable(spec)
            if spec.section != "model" or spec.name not in ARCH_FIELDS:
                continue
            shown = self._default_shown(spec)
            widget = row.widget
            if isinstance(widget, Input):
                widget.placeholder = shown
            elif isinstance(widget, Select) and widget.prompt != shown:
                widget.prompt = shown
                widget.set_options(_select_options(widget))
                self._show_value(row)
        self._update_notes()

    def _model_changed(self) -> None:
        """A new architecture: its own defaults replace the previous model's settings."""
        info = self._model_info()
        for spec in self._specs.values():
            if spec.section != "model" or spec.name == "name":
                continue
            if spec.name in ARCH_FIELDS or (info is not None and spec.name not in info["fields"]):
                self.set_value(spec.key, spec.default)

    # ------------------------------------------------------------ augment switches

    def _group_on(self, group: AugmentGroup) -> bool:
        return any(self._switch_value(k) for k in group.switches)

    def _switch_value(self, name: str) -> bool:
        value = self.value(f"augment.{name}")
        return bool(value) if isinstance(value, int | float) else True

    def _sync_groups(self) -> None:
        for group in AUGMENT_GROUPS:
            on_ = self._group_on(group)
            self._groups[group.id] = on_
            boxes = self.query(f"#aug-{group.id}")
            for box in boxes:
                assert isinstance(box, Checkbox)
                box.value = on_
            for name in (*group.switches, *group.params):
                row = self._rows.get(f"augment.{name}")
                if row is not None:
                    row.widget.disabled = not on_

    @on(Checkbox.Changed, "GroupRow Checkbox")
    def _group_toggled(self, event: Checkbox.Changed) -> None:
        event.stop()
        gid = (event.checkbox.id or "").removeprefix("aug-")
        if self._groups.get(gid) == event.value:
            return  # the form set it
        self._groups[gid] = event.value
        group = next(g for g in AUGMENT_GROUPS if g.id == gid)
        for name, on_value in group.switches.items():
            key = f"augment.{name}"
            if event.value and not self.value(key):
                self.set_value(key, on_value)
            elif not event.value:
                self.set_value(key, 0.0 if isinstance(on_value, float) else 0)
        for name in (*group.switches, *group.params):
            row = self._rows.get(f"augment.{name}")
            if row is not None:
                row.widget.disabled = not event.value
        self.revalidate(f"augment.{next(iter(group.switches))}")

    # ------------------------------------------------------------ change handling

    @staticmethod
    def _key_of(widget: Widget) -> str | None:
        wid = widget.id or ""
        if not wid.startswith("f-"):
            return None
        section, _, name = wid[2:].partition("-")
        return f"{section}.{name}"

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
        key = self._key_of(widget) if widget is not None else None
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
        """Parse every field and build the RunConfig; errors are mapped to their fields."""
        errors: dict[str, str] = {}
        values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
        fallback = self._flat(self.base)
        for key, spec in self._specs.items():
            if spec.section == "model" and not self._applicable(spec):
                value: Any = spec.default
            elif self._uses_input(spec):
                value, error = parse_text(spec, self.state[key])
                if error:
                    errors[key] = error
                    value = fallback.get(key, spec.default)
            else:
                value = self.state[key]
            values[spec.section][spec.name] = value
        config = None
        general = ""
        for _ in range(len(self._specs)):
            try:
                config = config_from_dict(values)
                break
            except ConfigError as exc:
                bad = base_key(exc.key)
                bad_spec = self._specs.get(bad) if bad else None
                if bad is None or bad_spec is None or bad in errors:
                    general = str(exc)
                    break
                errors[bad] = str(exc)
                # Put back a value that passed before, to find the other problems too.
                values[bad_spec.section][bad_spec.name] = fallback.get(bad, bad_spec.default)
        if errors:
            config = None
        return FormResult(config, errors, general)

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
            info = None
            if key in REGISTRY_KEYS:
                info = self._describe(REGISTRY_KEYS[key], self.state[key])
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
        return self._key_of(focused) if focused is not None else None

    def help_for(self, key: str) -> str:
        spec = self._specs.get(key)
        if spec is None:
            return ""
        text = f"{key} ({describe_type(spec.tp)})"
        return f"{text}: {spec.help}" if spec.help else text
