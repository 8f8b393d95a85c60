"""The catalog: one JSON-serialisable description of every registry and every config key."""

from __future__ import annotations

import dataclasses
import json

from engine.api.compute import catalog
from engine.catalog import Catalog, FieldEntry
from engine.config import all_keys
from engine.data import list_datasets
from engine.models import list_models
from engine.optim import list_optimizers, list_schedules


def test_the_catalog_round_trips_through_json() -> None:
    c = catalog()
    data = c.to_json()
    text = json.dumps(data)  # plain JSON: no tuples, no dataclasses, no NaN
    assert json.loads(text) == data
    again = Catalog.from_json({**json.loads(text), "id": 7})  # a probe answer carries an id
    assert again == c
    assert isinstance(again.models[0].fields, tuple) and isinstance(again.fields[0], FieldEntry)
    assert Catalog.from_json({}) == Catalog()


def test_the_catalog_describes_every_registry_and_key() -> None:
    c = catalog()
    assert c.names("models") == [m.name for m in list_models()]
    assert c.names("datasets") == [d.name for d in list_datasets()]
    assert c.names("optimizers") == [o.name for o in list_optimizers()]
    assert c.names("schedules") == [s.name for s in list_schedules()]
    assert {"cutout", "mixup", "hflip"} <= set(c.names("augmentations"))
    assert [f.key for f in c.fields] == all_keys()
    resnet24 = c.model("resnet24")
    assert resnet24 is not None and resnet24.family == "resnet-cifar"
    assert resnet24.defaults["layers"] == [3, 3, 2, 3] and "layers" in resnet24.fields
    cifar = c.dataset("cifar10")
    assert cifar is not None and (cifar.channels, cifar.image_size, cifar.num_classes) == (
        3,
        32,
        10,
    )
    cutout = next(a for a in c.augmentations if a.name == "cutout")
    assert cutout.switches == {"cutout_holes": 3, "cutout_length": 4}


def test_field_entries_carry_the_metadata_and_who_reads_each_key() -> None:
    c = catalog()
    lr = c.field("optim.lr")
    assert lr is not None and lr.min == 0 and lr.min_exclusive and lr.accepts == "a number > 0"
    assert lr.used_by == tuple(o.name for o in list_optimizers())  # every optimizer reads lr
    momentum = c.field("optim.momentum")
    assert momentum is not None and momentum.used_by == ("sgd", "rmsprop")
    rho = c.field("optim.rho")
    assert rho is not None and rho.used_by == ("adadelta",)
    milestones = c.field("schedule.milestones")
    assert milestones is not None and milestones.used_by == ("multistep",)
    warmup = c.field("schedule.warmup_epochs")
    assert warmup is not None and warmup.used_by == tuple(c.names("schedules"))  # always shown
    amp = c.field("train.amp")
    assert (
        amp is not None and amp.choices == ("auto", "off", "bf16", "fp16") and amp.used_by is None
    )
    name = c.field("model.name")
    assert name is not None and name.registry == "models"
    assert c.shown_keys("optim", "adadelta") == (
        "name",
        "lr",
        "weight_decay",
        "decay_norm_and_bias",
        "grad_clip",
        "rho",
        "eps",
    )
    assert c.shown_keys("schedule", "nope") is None
    for entry in c.fields:  # frozen, plain
        assert dataclasses.is_dataclass(entry)
