"""Inference: patch mode equals fast mode, scale planning, colour/alpha/grey/bit-depth handling."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_image
from sisr_core.inference import engine
from sisr_core.inference.engine import (Upscaler, peak_bytes_per_pixel, plan_scales, resolve_precision, speed_tile,
                                        upscale_image)
from sisr_core.models.loading import LoadedModel, prepare_network
from sisr_core.inference.tiling import Cancelled, tile_grid, upscale_tiled
from sisr_core.io import ImageData
from sisr_core.models.registry import build_model, get_spec


def loaded(name: str, scale: int, **config) -> LoadedModel:
    """A randomly initialised network wrapped as the engine sees it (tests only, never shipped)."""
    torch.manual_seed(0)
    spec = get_spec(name)
    net = build_model(name, scale, **config).eval().requires_grad_(False)
    return LoadedModel(name, spec, net, None if spec.multi_scale else scale, {"config": spec.config(**config)})


def upscaler_with(*models: LoadedModel) -> Upscaler:
    """An Upscaler whose networks are given (bypassing weight files), in fp32 unless a model says bf16."""
    return Upscaler.serving(*models)


def levels(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round()


SMALL = {"rnsr": {"num_block": 2}, "edsr-baseline": {"num_block": 2, "num_feat": 16},
         "wdsr-a": {"num_block": 2}, "span": {"num_block": 2, "num_feat": 16}, "ddsr": {"num_feat": 16}, "fdsrcnn": {}}


@pytest.mark.parametrize(
    "name,scale",
    [("fsrcnn", 2), ("fsrcnn", 3), ("espcn", 4), ("sr", 3), ("ddsr", 2), ("rnsr", 2), ("wdsr-a", 2),
     ("fdsrcnn", 3), ("edsr-baseline", 2), ("span", 3)],
)
def test_patch_equals_fast(name, scale):
    up = upscaler_with(loaded(name, scale, **SMALL.get(name, {})))
    img = torch.from_numpy(random_image(29, 35)).permute(2, 0, 1)[None]
    fast = up.upscale(img, scale, mode="fast")
    for tile in (12, 64):  # 64 is larger than the image
        patch = up.upscale(img, scale, mode="patch", tile=tile)
        assert patch.shape == fast.shape == (1, 3, 29 * scale, 35 * scale)
        assert (levels(patch) - levels(fast)).abs().max() <= 1, f"{name} x{scale} tile {tile}"


def test_bf16_inference_is_close_to_fp32():
    fp32 = loaded("fsrcnn", 2)
    img = torch.from_numpy(random_image(40, 40)).permute(2, 0, 1)[None]
    exact = upscaler_with(fp32).upscale(img, 2)
    fast = Upscaler.serving(replace(fp32), precision="bf16").upscale(img, 2)
    diff = (levels(exact) - levels(fast)).abs()
    assert fast.dtype == torch.float32 and diff.max() <= 3 and 0 < diff.mean() < 0.5


@pytest.mark.parametrize("amx,avx512_bf16,vendor,expected", [
    (True, True, "GenuineIntel", "bf16"), (False, True, "GenuineIntel", "fp32"), (False, True, "AuthenticAMD", "bf16"),
    (False, False, "AuthenticAMD", "fp32"), (False, False, "", "fp32"),
])
def test_auto_precision_is_bf16_only_where_the_cpu_runs_it_faster(monkeypatch, amx, avx512_bf16, vendor, expected):
    """AMX and AMD's AVX512-BF16 make bf16 2-3x faster; Intel's AVX512-BF16 alone was slower (``native_bf16``)."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(engine, "cpu_vendor", lambda: vendor)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == expected
    assert resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve_precision("fp16", cpu)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), tile=st.integers(1, 32), overlap_extra=st.integers(0, 6))
def test_tiling_property_any_size(h, w, tile, overlap_extra):
    model = loaded("fsrcnn", 2)
    up = upscaler_with(model)
    img = torch.from_numpy(random_image(h, w, seed=h * 100 + w)).permute(2, 0, 1)[None]
    fast = up.upscale(img, 2, mode="fast")
    patch = up.upscale(img, 2, mode="patch", tile=tile, overlap=model.receptive_radius + overlap_extra)
    assert (levels(patch) - levels(fast)).abs().max() <= 1


def test_tile_grid_uses_the_fewest_equal_tiles():
    tiles = tile_grid(1000, 1000, 462)
    assert len(tiles) == 9 and {(y1 - y0, x1 - x0) for y0, y1, x0, x1 in tiles} == {(334, 334), (334, 332), (332, 334), (332, 332)}
    assert [t[2:] for t in tile_grid(8, 1000, 464, multiple=8)] == [(0, 336), (336, 672), (672, 1000)]


def test_tiling_reports_progress_and_cancels():
    calls = []
    img = torch.rand(1, 3, 20, 20)
    upscale_tiled(lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2), img, 2, 8, 2, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (9, 9) and len(calls) == 9
    with pytest.raises(Cancelled):
        upscale_tiled(lambda t: t, img, 1, 8, 2, cancel=lambda: True)


def test_cancel_lands_between_a_networks_layers_in_its_own_thread_only():
    """A whole-image pass stops at the layer after cancel() turns true; another thread's pass through the
    same network is not stopped by it, and the network runs as before once the call is over."""
    import threading

    up = upscaler_with(loaded("fsrcnn", 2))
    network = up.model_for(2).network
    layers = [m for m in network.modules() if next(m.children(), None) is None]
    ran = []
    for m in layers:
        m.register_forward_hook(lambda m, i, o: ran.append(threading.current_thread().name))
    img = torch.rand(1, 3, 24, 24)
    checks = []

    def cancel() -> bool:
        checks.append(1)
        return len(checks) > 3  # true at the fourth layer

    with pytest.raises(Cancelled):
        up.upscale(img, 2, mode="fast", cancel=cancel)
    assert len(ran) == 3 < len(layers)

    ran.clear()
    stop, other_done = threading.Event(), []

    def other():  # runs while the main thread's cancel() is true, without a cancel of its own
        stop.wait()
        other_done.append(up.upscale(img, 2, mode="fast").shape)

    worker = threading.Thread(target=other, name="other")
    worker.start()

    def cancel_and_let_other_run() -> bool:
        stop.set()
        worker.join()
        return True

    with pytest.raises(Cancelled):
        up.upscale(img, 2, mode="fast", cancel=cancel_and_let_other_run)
    assert other_done == [(1, 3, 48, 48)] and ran == ["other"] * len(layers)
    assert up.upscale(img, 2, mode="fast").shape == (1, 3, 48, 48)  # no cancel: no check left behind


@pytest.mark.parametrize(
    "target,natives,expected",
    [(2, [2, 3, 4], ([2], False)), (8, [2, 4], ([4, 2], False)), (3, [2, 4], ([4], True)),
     (6, [2, 3], ([3, 2], False)), (5, [2], ([2, 2, 2], True)), (1, [2], ([2], True))],
)
def test_plan_scales(target, natives, expected):
    assert plan_scales(target, natives) == expected


def test_any_integer_scale_with_a_chain():
    up = upscaler_with(loaded("espcn", 2), loaded("espcn", 4))
    img = torch.rand(1, 3, 9, 11)
    for scale in (3, 5, 8):
        assert up.upscale(img, scale).shape == (1, 3, 9 * scale, 11 * scale)


def test_pre_upsampling_network_takes_any_scale():
    up = upscaler_with(loaded("sr", 2))
    assert up.upscale(torch.rand(1, 3, 10, 10), 5).shape == (1, 3, 50, 50)


def test_y_network_changes_luma_only():
    """A Y-only network's output luma is used; chroma is the bicubic enlargement of the input's."""

    class NearestLuma(torch.nn.Module):
        def forward(self, y):
            return y.repeat_interleave(2, -1).repeat_interleave(2, -2)

    spec = get_spec("fsrcnn")
    up = upscaler_with(LoadedModel("fsrcnn", spec, NearestLuma(), 2, {"config": spec.config()}))
    img = torch.from_numpy(random_image(12, 14) * 0.5 + 0.25).permute(2, 0, 1)[None]
    from sisr_core.inference.color import rgb_to_ycbcr
    from sisr_core.resize import imresize

    out = rgb_to_ycbcr(up.upscale(img, 2))
    ycbcr = rgb_to_ycbcr(img)
    assert torch.allclose(out[:, :1], ycbcr[:, :1].repeat_interleave(2, -1).repeat_interleave(2, -2), atol=1e-4)
    assert torch.allclose(out[:, 1:], imresize(ycbcr[:, 1:], 2), atol=1e-4)


def test_grey_alpha_and_bit_depth_survive_upscale():
    up = upscaler_with(loaded("fsrcnn", 2))
    grey = ImageData(pixels=random_image(10, 14, c=1), alpha=np.linspace(0, 1, 140, dtype=np.float32).reshape(10, 14),
                     bit_depth=16, icc_profile=b"icc", exif=b"Exif\0\0x")
    out = upscale_image(up, grey, 2)
    assert out.pixels.shape == (20, 28, 1) and out.alpha.shape == (20, 28)
    assert out.bit_depth == 16 and out.icc_profile == b"icc" and out.exif == b"Exif\0\0x"
    assert 0.0 <= out.alpha.min() and out.alpha.max() <= 1.0
    # alpha is enlarged, not altered: its mean stays put
    assert abs(out.alpha.mean() - grey.alpha.mean()) < 0.01


def test_rgba_patch_equals_fast():
    up = upscaler_with(loaded("espcn", 2))
    img = torch.from_numpy(np.concatenate([random_image(23, 19), random_image(23, 19, 1, seed=3)], axis=2)).permute(2, 0, 1)[None]
    fast, patch = up.upscale(img, 2, mode="fast"), up.upscale(img, 2, mode="patch", tile=8)
    assert fast.shape == (1, 4, 46, 38)
    assert (levels(fast) - levels(patch)).abs().max() <= 1


def test_ensemble_averages_eight_transforms():
    up = upscaler_with(loaded("espcn", 2))
    img = torch.rand(1, 3, 10, 13)
    plain, ens = up.upscale(img, 2), up.upscale(img, 2, ensemble=True)
    assert ens.shape == plain.shape and not torch.allclose(ens, plain)
    # the ensemble of a flipped input is the flipped ensemble
    assert torch.allclose(up.upscale(img.flip(-1), 2, ensemble=True), ens.flip(-1), atol=1e-5)


def test_small_image_is_padded_to_minimum():
    up = upscaler_with(loaded("ddsr", 2))
    assert up.upscale(torch.rand(1, 3, 1, 1), 2).shape == (1, 3, 2, 2)
    assert up.upscale(torch.rand(1, 1, 1, 7), 2).shape == (1, 1, 2, 14)


def test_auto_mode_tiles_small_context_networks_for_speed():
    model = loaded("fsrcnn", 2)
    up = upscaler_with(replace(model, network=prepare_network(model.network)))  # folded, as load_model gives it
    img = torch.rand(1, 3, 700, 700)
    ticks = []
    out = up.upscale(img, 2, mode="auto", progress=lambda d, t: ticks.append(t))
    assert ticks[-1] > 1  # tiles, though the whole image fits the memory budget
    assert (levels(out) - levels(up.upscale(img, 2, mode="fast"))).abs().max() <= 1
    assert speed_tile(2000, 8) and speed_tile(2000, 60) is None  # a wide context makes tiles too costly


def test_auto_mode_patches_when_over_budget():
    up = upscaler_with(loaded("fsrcnn", 2))
    img = torch.from_numpy(random_image(40, 40)).permute(2, 0, 1)[None]
    ticks = []
    out = up.upscale(img, 2, mode="auto", memory_budget=200_000, progress=lambda d, t: ticks.append(t))
    assert ticks and ticks[-1] > 1  # several tiles
    assert (levels(out) - levels(up.upscale(img, 2, mode="fast"))).abs().max() <= 1


@pytest.mark.parametrize("name", ["wdsr-a", "fsrcnn"])
@pytest.mark.parametrize("size", [1, 4])
def test_a_tiny_image_keeps_its_colour(name, size):
    """Smaller than the network's context, a solid red image stays red (it came out brown: zero padding)."""
    red = torch.zeros(1, 3, size, size)
    red[:, 0] = 1
    for mode in ("fast", "patch"):
        out = Upscaler(name, device="cpu").upscale(red, 2, mode=mode)
        assert out.shape == (1, 3, 2 * size, 2 * size)
        assert (out - red.repeat_interleave(2, -1).repeat_interleave(2, -2)).abs().max() < 4 / 255


def test_one_tile_policy_fed_by_the_models_descriptor():
    """plan_tiles: fast runs whole, patch tiles on the network's size grid with its context, auto runs whole when
    the image fits the budget and tiles by the budget otherwise; a community model's context comes from its spec."""
    from dataclasses import replace

    from sisr_core.inference.engine import plan_tiles

    model = LoadedModel("fsrcnn", get_spec("fsrcnn"), prepare_network(build_model("fsrcnn", 2)), 2, {"config": {}})
    radius = model.receptive_radius
    assert plan_tiles(model, 2, 4000, 4000, "fast").whole and plan_tiles(model, 2, 4000, 4000, "fast", tile=64).whole
    patch = plan_tiles(model, 2, 100, 100, "patch", tile=50)
    assert not patch.whole and (patch.tile, patch.context) == (50, radius)
    assert plan_tiles(model, 2, 100, 100, "auto").whole  # fits, and smaller than a speed tile
    huge = plan_tiles(model, 2, 20000, 20000, "auto", memory_budget=64 * 2**20)
    assert not huge.whole and huge.tile < 20000
    over = plan_tiles(model, 2, 2000, 2000, "auto")  # over the default budget: the speed tile, not the budget's
    assert not over.whole and over.tile == speed_tile(peak_bytes_per_pixel(model, 2), radius) < 2000
    assert plan_tiles(model, 2, 2000, 2000, "auto", speed=False).tile > over.tile  # a GPU's tile: the budget's
    assert plan_tiles(replace(model, bf16=True), 2, 2000, 2000, "auto").tile > over.tile  # half the bytes a map
    windowed = replace(model, spec=replace(model.spec, size_multiple=8, context=21))  # as community_spec gives
    plan = plan_tiles(windowed, 2, 100, 100, "patch", tile=50)
    assert (plan.tile, plan.context) == (56, 24)
