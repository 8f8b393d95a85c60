"""Batch augmentation on the device (CPU here): shapes, ranges, and what each step must do."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from engine.config import AugmentConfig, RunConfig
from engine.data import RANDAUGMENT_OPS, BatchAugment, MixedBatch, list_augmentations
from engine.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    cutout_mask,
    random_crop,
    resize_center_crop,
    rotate,
)
from engine.data.randaugment import rand_augment
from engine.errors import ConfigError

MEAN, STD = (0.41, 0.52, 0.63), (0.2, 0.25, 0.3)  # no uint8 value lands exactly on a mean
OFF = AugmentConfig()


def images(b: int = 16, c: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, size, size), generator=g, dtype=torch.uint8)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def plain(
    x: torch.Tensor, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD
) -> torch.Tensor:
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (x.float() / 255 - m) / s


def augment(**changes: object) -> BatchAugment:
    return BatchAugment(dataclasses.replace(OFF, **changes), MEAN, STD, num_classes=10)


def train(aug: BatchAugment, x: torch.Tensor, seed: int = 0) -> MixedBatch:
    return aug.train(x, torch.arange(len(x)), gen(seed))


# ---------------------------------------------------------------- identity and normalisation


def test_everything_off_is_plain_normalisation() -> None:
    x = images()
    batch = train(augment(), x)
    assert batch.x.dtype == torch.float32 and batch.x.shape == x.shape
    torch.testing.assert_close(batch.x, plain(x))
    assert batch.lam == 1.0 and batch.y_a is batch.y_b
    torch.testing.assert_close(augment().eval(x), plain(x))


def test_normalisation_modes() -> None:
    x = images(c=1)
    grey_mean = (sum(IMAGENET_MEAN) / 3,)
    grey_std = (sum(IMAGENET_STD) / 3,)
    torch.testing.assert_close(augment(normalize="imagenet").eval(x), plain(x, grey_mean, grey_std))
    torch.testing.assert_close(augment(normalize="none").eval(x), x.float() / 255)
    x3 = images(c=3)
    torch.testing.assert_close(
        augment(normalize="imagenet").eval(x3), plain(x3, IMAGENET_MEAN, IMAGENET_STD)
    )


def test_registry_of_augmentations_names_real_config_keys() -> None:
    keys = {f.name for f in dataclasses.fields(AugmentConfig)}
    infos = list_augmentations()
    assert {i.name for i in infos} >= {"crop", "hflip", "cutout", "mixup", "randaugment"}
    assert all(set(i.keys) <= keys for i in infos)
    assert keys <= {k for i in infos for k in i.keys}  # every knob is described
    # one registry, torch-free (the console's form lays out its switches from it)
    from engine.config.augmentations import AUGMENTATIONS

    assert infos == AUGMENTATIONS.list()
    assert AUGMENTATIONS.get("cutout") in infos
    for info in infos:
        assert {*info.switches, *info.params} <= set(info.keys), info.name
        with_on = RunConfig().replace({f"augment.{k}": v for k, v in info.switches.items()})
        assert all(getattr(with_on.augment, k) == v for k, v in info.switches.items())


# ---------------------------------------------------------------- geometry


def test_flip_mirrors_exactly_the_flipped_images() -> None:
    x = images(b=64)
    aug = augment(hflip=True)
    out = train(aug, x).x
    expected_plain, expected_flip = aug.eval(x), aug.eval(x.flip(-1))
    same = (out == expected_plain).flatten(1).all(1)
    mirrored = (out == expected_flip).flatten(1).all(1)
    assert bool((same ^ mirrored).all())  # each image is exactly one of the two
    assert 16 < int(mirrored.sum()) < 48


def test_crop_with_padding_shifts_content_into_zero_borders() -> None:
    x = images(b=32, size=8).clamp_min(1)  # no zero pixel in the content
    pad = 2
    out = random_crop(x, pad, gen())
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    shifts = set()
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 8, dx : dx + 8])
        ]
        assert found, f"image {i} is not a window of its padded self"
        shifts.add(found[0])
    assert len(shifts) > 5  # per-image offsets, not one shift for the batch
    shifted = [s for s in shifts if s != (pad, pad)]
    assert shifted and (out == 0).any()  # zero padding came in somewhere


def test_rotation_turns_counter_clockwise_like_torchvision() -> None:
    x = images(b=2, size=9).float()
    quarter = rotate(x, torch.full((2,), math.pi / 2))
    torch.testing.assert_close(quarter, torch.rot90(x, 1, (2, 3)), atol=1e-3, rtol=0)
    out = train(augment(rotation=30.0, normalize="none"), images(b=8, size=9)).x
    assert out.shape == (8, 3, 9, 9) and out.min() >= 0 and out.max() <= 1
    corners = out[:, :, 0, 0]
    assert (corners == 0).float().mean() > 0.3  # corners rotate in from outside, as zeros
    still = train(augment(rotation=1e-6, normalize="none"), images(b=8, size=9)).x
    torch.testing.assert_close(still, images(b=8, size=9).float() / 255, atol=1e-3, rtol=0)


def test_resize_and_center_crop_for_transfer_sizes() -> None:
    aug = augment(resize=40, crop_size=32)
    x = images(b=4, size=20)
    assert aug.output_size(20) == 32 and augment().output_size(20) == 20
    assert train(aug, x).x.shape == (4, 3, 32, 32)
    assert aug.eval(x).shape == (4, 3, 32, 32)
    # center crop only: the middle of the image, unchanged
    crop = augment(crop_size=6, normalize="none").eval(images(b=2, size=10))
    torch.testing.assert_close(crop, images(b=2, size=10)[..., 2:8, 2:8].float() / 255)
    # a constant image stays constant through the resize
    flat = torch.full((1, 3, 10, 10), 100.0)
    torch.testing.assert_close(resize_center_crop(flat, 23, 20), torch.full((1, 3, 20, 20), 100.0))
    with pytest.raises(ConfigError, match="augment.crop_size"):
        augment(crop_size=16).eval(images(size=10))


# ---------------------------------------------------------------- occlusion and noise


def test_cutout_zeroes_one_square_per_hole() -> None:
    x = images(b=32, size=12)
    out = train(augment(cutout_holes=1, cutout_length=4), x).x
    base = augment().eval(x)
    assert not (base == 0).any()  # uint8 values never normalise to exactly 0 here
    zero = (out == 0).all(dim=1)  # [B, H, W]
    assert zero.flatten(1).sum(1).tolist() == [16] * 32
    for i in range(32):  # the zeros form a 4x4 square, the rest is untouched
        ys, xs = zero[i].nonzero(as_tuple=True)
        assert int(ys.max() - ys.min()) == 3 and int(xs.max() - xs.min()) == 3
    torch.testing.assert_close(
        out[~zero.unsqueeze(1).expand_as(out)], base[~zero.unsqueeze(1).expand_as(base)]
    )
    many = cutout_mask((64, 3, 12, 12), 3, 4, gen(), torch.device("cpu")).flatten(1).sum(1)
    assert int(many.min()) >= 16 and int(many.max()) <= 48 and int(many.max()) > 16


def test_noise_is_added_after_normalisation_with_the_configured_std() -> None:
    x = images(b=64, size=16)
    out = train(augment(noise_std=0.2), x).x
    noise = out - plain(x)
    assert noise.std().item() == pytest.approx(0.2, rel=0.05)
    assert abs(noise.mean().item()) < 0.01


# ---------------------------------------------------------------- mixing


def test_mixup_blends_each_image_with_its_partner() -> None:
    x = images(b=32)
    base = plain(x)
    for seed in range(5):
        batch = train(augment(mixup_alpha=1.0), x, seed)
        assert 0.0 <= batch.lam <= 1.0
        partner = batch.y_b  # labels are arange, so they name the partner image
        assert sorted(partner.tolist()) == list(range(32)) and torch.equal(
            batch.y_a, torch.arange(32)
        )
        torch.testing.assert_close(batch.x, batch.lam * base + (1 - batch.lam) * base[partner])
    lams = {train(augment(mixup_alpha=0.4), x, s).lam for s in range(20)}
    assert len(lams) == 20  # a fresh Beta draw per batch


def test_cutmix_pastes_one_box_whose_area_matches_lam() -> None:
    x = images(b=32, size=16)
    base = augment().eval(x)
    for seed in range(10):
        batch = train(augment(cutmix_alpha=1.0), x, seed)
        partner = batch.y_b
        moved = partner != torch.arange(32)
        changed = (batch.x != base).any(dim=1)  # [B, H, W]
        area = changed[moved].flatten(1).sum(1)
        assert area.tolist() == [round((1 - batch.lam) * 256)] * int(moved.sum())
        taken = changed.unsqueeze(1).expand_as(base)
        torch.testing.assert_close(batch.x[taken], base[partner][taken])


def test_mix_prob_and_choice_between_mixup_and_cutmix() -> None:
    x = images(b=8)
    never = augment(mixup_alpha=1.0, mix_prob=0.0)
    assert all(train(never, x, s).lam == 1.0 for s in range(10))
    both = augment(mixup_alpha=1.0, cutmix_alpha=1.0)
    kinds = set()
    for s in range(30):
        batch = train(both, x, s)
        changed = (batch.x != both.eval(x)).any(dim=1)
        whole = bool(changed[batch.y_b != torch.arange(8)].all())
        kinds.add("mixup" if whole else "cutmix")
    assert kinds == {"mixup", "cutmix"}
    half = augment(mixup_alpha=1.0, mix_prob=0.5)
    mixed = sum(train(half, x, s).lam < 1.0 for s in range(200))
    assert 70 < mixed < 130


def test_host_seeded_mixing_reads_nothing_back_from_the_generator() -> None:
    """On CUDA the trainer gives a host seed per step: whether to mix, which kind and lam then
    depend on that seed alone, whatever the device generator's state, and the generator is not
    read (the batch-level draws never leave the host). Checked here on the CPU generator."""
    x = images(b=16)
    both = augment(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.7)
    labels = torch.arange(16)
    for host_seed in range(40):
        a = both.train(x, labels, gen(1), host_seed)
        b = both.train(x, labels, gen(2), host_seed)
        assert a.lam == b.lam  # not from the generators, which differ
        mixed_a = bool((a.y_b != labels).any())
        assert mixed_a == (a.lam < 1.0) and mixed_a == bool((b.y_b != labels).any())
    lams = [both.train(x, labels, gen(0), s).lam for s in range(300)]
    mixed = [lam for lam in lams if lam < 1.0]
    assert 170 < len(mixed) < 250  # mix_prob 0.7 of 300
    mixup = augment(mixup_alpha=0.4)
    assert len({mixup.train(x, labels, gen(0), s).lam for s in range(50)}) == 50  # fresh draws

    class Unreadable(torch.Tensor):
        def tolist(self) -> list[object]:  # type: ignore[override]
            raise AssertionError("a batch-level draw was read back")

    plain_rand = torch.rand

    def rand(*args: object, **kwargs: object) -> torch.Tensor:
        return plain_rand(*args, **kwargs).as_subclass(Unreadable)  # type: ignore[arg-type]

    torch.rand = rand  # type: ignore[assignment]
    try:
        assert both.train(x, labels, gen(0), host_seed=3).lam == lams[3]
        try:
            both.train(x, labels, gen(0))
        except AssertionError as exc:  # the generator path does read its draws back
            assert "read back" in str(exc)
        else:
            raise AssertionError("the check above cannot fail")
    finally:
        torch.rand = plain_rand


# ---------------------------------------------------------------- RandAugment


def test_randaugment_changes_images_and_keeps_uint8_range() -> None:
    x = images(b=64, size=16)
    for channels in (1, 3):
        xc = x[:, :channels]
        out = rand_augment(xc, 2, 9, gen())
        assert out.dtype == torch.uint8 and out.shape == xc.shape
        changed = (out != xc).flatten(1).any(1).float().mean()
        assert changed > 0.6
    for op in RANDAUGMENT_OPS:
        out = rand_augment(x, 1, 30, gen(), ops=(op,))
        assert out.dtype == torch.uint8 and out.shape == x.shape, op
    assert torch.equal(rand_augment(x, 3, 30, gen(), ops=("identity",)), x)


def test_randaugment_ops_do_what_they_say() -> None:
    x = images(b=8, size=10)
    torch.testing.assert_close(rand_augment(x, 1, 30, gen(), ops=("solarize",)), 255 - x)
    poster = rand_augment(x, 1, 30, gen(), ops=("posterize",))  # magnitude 30: 4 bits
    assert torch.equal(poster, x & 0xF0)
    stretched = rand_augment(x // 2 + 40, 1, 0, gen(), ops=("autocontrast",))
    assert stretched.amin(dim=(2, 3)).eq(0).all() and stretched.amax(dim=(2, 3)).eq(255).all()
    # geometric ops with magnitude 0 are exact identities (nearest sampling)
    geometric = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
    assert torch.equal(rand_augment(x, 2, 0, gen(), ops=geometric), x)
    # a full translation leaves part of every image black
    moved = rand_augment(x.clamp_min(1), 1, 30, gen(), ops=("translate_x",))
    assert (moved == 0).flatten(1).any(1).all()
    with pytest.raises(ValueError, match="unknown RandAugment ops"):
        rand_augment(x, 1, 9, gen(), ops=("equalize",))


# ---------------------------------------------------------------- everything at once


def test_full_pipeline_is_deterministic_given_the_generator() -> None:
    aug = augment(
        randaugment_ops=2, crop_padding=2, hflip=True, rotation=10.0, resize=20, crop_size=16,
        cutout_holes=2, cutout_length=3, noise_std=0.1, mixup_alpha=0.5, cutmix_alpha=0.5,
    )  # fmt: skip
    x = images(b=16, size=12)
    a, b, c = train(aug, x, 1), train(aug, x, 1), train(aug, x, 2)
    assert a.x.shape == (16, 3, 16, 16) and a.x.dtype == torch.float32
    assert bool(torch.isfinite(a.x).all())
    assert torch.equal(a.x, b.x) and torch.equal(a.y_b, b.y_b) and a.lam == b.lam
    assert not torch.equal(a.x, c.x)
    assert torch.equal(x, images(b=16, size=12))  # the dataset's batch is never modified
    assert aug.eval(x).shape == (16, 3, 16, 16)
    empty = aug.train(x[:0], torch.arange(0), gen())
    assert empty.x.shape == (0, 3, 16, 16) and empty.lam == 1.0
