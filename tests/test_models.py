"""Shapes, registered names and official key layouts of the networks in sisr_core.models."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from sisr_core.models import build_model, fold_for_inference, get_spec, list_models
from sisr_core.models.resnet_sr import NonLocalBlock
from sisr_core.models.srresnet import build_discriminator
from sisr_core.models.wdsr import WeightNormConv2d

ALL_MODELS = [
    "sr", "esr", "dsr", "ddsr", "rnsr", "distilled_rnsr", "nlrnsr", "espcn", "fsrcnn",
    "edsr-baseline", "edsr", "wdsr-a", "wdsr-b", "srresnet", "srgan", "fdsrcnn", "span",
]
Y_MODELS = {"sr", "esr", "dsr", "ddsr", "espcn", "fsrcnn"}
SMALL_MODELS = [name for name in ALL_MODELS if name != "edsr"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _run(name: str, scale: int, h: int, w: int, **cfg) -> tuple[torch.Tensor, torch.Tensor]:
    spec = get_spec(name)
    model = build_model(name, scale, **cfg).eval()
    channels = spec.config(**cfg)["num_in_ch"]
    x = torch.rand(1, channels, h * scale, w * scale) if spec.pre_upsample else torch.rand(1, channels, h, w)
    with torch.no_grad():
        return x, model(x)


def test_registered_names():
    assert list_models() == sorted(ALL_MODELS)


def test_default_colour_channels():
    for name in ALL_MODELS:
        expected = 1 if name in Y_MODELS else 3
        cfg = get_spec(name).default_config
        assert (cfg["num_in_ch"], cfg["num_out_ch"]) == (expected, expected), name


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", SMALL_MODELS)
def test_output_shape_odd_input(name, scale):
    spec = get_spec(name)
    for channels in sorted({spec.default_config["num_in_ch"], 3}):
        x, y = _run(name, scale, 13, 17, num_in_ch=channels, num_out_ch=channels)
        expected = x.shape if spec.pre_upsample else (1, channels, 13 * scale, 17 * scale)
        assert y.shape == expected and y.dtype == torch.float32, (name, scale, channels)
        assert torch.isfinite(y).all()


def test_pre_upsampling_ignores_scale_and_residual_flag():
    for name in ("sr", "esr", "dsr", "ddsr"):
        spec = get_spec(name)
        assert spec.pre_upsample and spec.multi_scale
        with_res = build_model(name, 5).eval()
        without = build_model(name, 5, residual=False).eval()
        without.load_state_dict(with_res.state_dict())
        x = torch.rand(1, 1, 11, 9)
        with torch.no_grad():
            torch.testing.assert_close(with_res(x), x + without(x))


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (6, 10), (9, 4)])
def test_ddsr_any_size(size):
    model = build_model("ddsr", 2).eval()
    x = torch.rand(2, 1, *size)
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_keras_layer_names():
    assert {"level1.weight", "level2.weight", "output.weight"} <= build_model("sr", 2).state_dict().keys()
    esr = build_model("esr", 2).state_dict()
    assert {"lavel1_1.weight", "lavel1_2.weight", "lavel1_3.weight"} <= esr.keys()
    assert esr["lavel1_3.weight"].shape == (32, 64, 5, 5)
    keras_student = build_model(
        "distilled_rnsr", 2, num_block=1, upsampler="nearest", num_up_feat=64, batch_norm=True
    ).state_dict()
    assert keras_student["conv1.weight"].shape == (32, 3, 3, 3)
    assert keras_student["body.0.conv2.weight"].shape == (32, 32, 3, 3)
    assert "body.0.bn1.running_var" in keras_student
    assert keras_student["upsample.1.weight"].shape == (64, 32, 3, 3)
    assert keras_student["conv_final.weight"].shape == (3, 64, 3, 3)


def _naive_non_local(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    theta = block.theta(x).flatten(2).transpose(1, 2)
    phi = block.phi(x).flatten(2)
    g = block.g(x).flatten(2).transpose(1, 2)
    y = torch.softmax(theta @ phi, dim=-1) @ g
    return x + block.out(y.transpose(1, 2).reshape(n, -1, h, w))


def test_non_local_chunks_match_full_attention():
    block = NonLocalBlock(16).eval()
    x = torch.rand(2, 16, 7, 9)
    with torch.no_grad():
        expected = _naive_non_local(block, x)
        for chunk_elements in (1, 63 * 5, 1 << 24):
            block.chunk_elements = chunk_elements
            torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_nlrnsr_chunked_equals_unchunked():
    model = build_model("nlrnsr", 2).eval()
    assert not get_spec("nlrnsr").tile_exact
    x = torch.rand(1, 3, 10, 12)
    blocks = [m for m in model.modules() if isinstance(m, NonLocalBlock)]
    assert len(blocks) == 2
    with torch.no_grad():
        full = model(x)
        for block in blocks:
            block.chunk_elements = 120 * 7
        torch.testing.assert_close(model(x), full, atol=1e-5, rtol=1e-5)


def test_edsr_official_keys():
    x2 = build_model("edsr", 2)
    sd = x2.state_dict()
    assert sd["head.0.weight"].shape == (256, 3, 3, 3)
    assert sd["body.0.body.0.weight"].shape == (256, 256, 3, 3)
    assert sd["body.31.body.2.weight"].shape == (256, 256, 3, 3)
    assert sd["body.32.weight"].shape == (256, 256, 3, 3)
    assert sd["tail.0.0.weight"].shape == (1024, 256, 3, 3)
    assert sd["tail.1.weight"].shape == (3, 256, 3, 3)
    assert sd["sub_mean.weight"].shape == (3, 3, 1, 1)
    assert {"sub_mean.bias", "add_mean.weight", "add_mean.bias"} <= sd.keys()
    with torch.no_grad():
        assert x2.eval()(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)
    sd4 = build_model("edsr", 4).state_dict()
    assert sd4["tail.0.0.weight"].shape == (1024, 256, 3, 3)
    assert sd4["tail.0.2.weight"].shape == (1024, 256, 3, 3)
    assert "tail.0.4.weight" not in sd4
    assert build_model("edsr-baseline", 3).state_dict()["tail.0.0.weight"].shape == (576, 64, 3, 3)


def test_edsr_rgb_range_keeps_unit_contract():
    x = torch.rand(1, 3, 6, 5)
    for rgb_range in (1.0, 255.0):
        model = build_model("edsr-baseline", 2, num_block=2, rgb_range=rgb_range).eval()
        nn.init.zeros_(model.tail[1].weight)
        nn.init.zeros_(model.tail[1].bias)
        with torch.no_grad():
            y = model(x)
        mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1).expand_as(y)
        torch.testing.assert_close(y, mean)


def test_wdsr_official_keys():
    sd_a = build_model("wdsr-a", 2).state_dict()
    assert sd_a["head.0.weight_g"].shape == (32, 1, 1, 1)
    assert sd_a["head.0.weight_v"].shape == (32, 3, 3, 3)
    assert sd_a["body.0.body.0.weight_v"].shape == (128, 32, 3, 3)
    assert sd_a["tail.0.weight_v"].shape == (12, 32, 3, 3)
    assert sd_a["skip.0.weight_v"].shape == (12, 3, 5, 5)
    assert not any(k.endswith(".weight") for k in sd_a)
    sd_b = build_model("wdsr-b", 3).state_dict()
    assert sd_b["body.15.body.0.weight_v"].shape == (192, 32, 1, 1)
    assert sd_b["body.15.body.2.weight_v"].shape == (25, 192, 1, 1)
    assert sd_b["body.15.body.3.weight_v"].shape == (32, 25, 3, 3)


def test_weight_norm_conv_loads_torch_weight_norm_state_dict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = nn.utils.weight_norm(nn.Conv2d(4, 6, 3, padding=1))
    with torch.no_grad():
        reference.weight_g.mul_(torch.rand_like(reference.weight_g) + 0.5)
    ours = WeightNormConv2d(4, 6, 3)
    ours.load_state_dict(reference.state_dict())
    x = torch.rand(1, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


@pytest.mark.parametrize("name,scale", [("wdsr-a", 3), ("wdsr-b", 3), ("fsrcnn", 2), ("fsrcnn", 3), ("fsrcnn", 4),
                                        ("espcn", 2), ("espcn", 3)])
def test_folded_for_inference_same_output(name, scale):
    model = build_model(name, scale).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        for m in model.modules():  # PReLU slopes above 1 and below 0 too: folding must handle both
            if isinstance(m, nn.PReLU):
                m.weight.copy_(torch.linspace(-0.5, 2.5, m.weight.numel()))
        x = torch.rand(1, get_spec(name).config()["num_in_ch"], 9, 11)
        expected = model(x)
        folded = fold_for_inference(model)
        assert not any("weight_g" in k for k in folded.state_dict())
        assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), expected, atol=1e-5, rtol=1e-5)


def test_espcn_runs_each_conv_and_tanh_as_one_fused_step_on_the_cpu_in_bf16_too(monkeypatch):
    from sisr_core.models.espcn import ConvTanh
    assert ConvTanh.fused is not None  # this CPU build of torch has oneDNN's fusion op
    calls = []
    fused = ConvTanh.fused
    monkeypatch.setattr(ConvTanh, "fused", staticmethod(lambda x, *a: calls.append(x.dtype) or fused(x, *a)))
    model = build_model("espcn", 2).eval()
    x = torch.rand(1, 1, 40, 36).to(memory_format=torch.channels_last)
    with torch.no_grad():
        folded = fold_for_inference(model)
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
        assert calls == [torch.float32] * 2
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast, slow = folded(x), model(x)
        assert calls[2:] == [torch.bfloat16] * 2 and fast.dtype == slow.dtype == torch.bfloat16
        assert (fast.float() - slow.float()).abs().max() < 0.02


@pytest.mark.parametrize("size", [64, 96])
def test_discriminator_logits(size):
    disc = build_discriminator(num_in_ch=3, num_feat=16)
    assert disc(torch.rand(2, 3, size, size)).shape == (2, 1)


def test_srgan_shares_srresnet_generator():
    assert get_spec("srgan").default_config == get_spec("srresnet").default_config
    srgan = build_model("srgan", 4)
    assert srgan.state_dict().keys() == build_model("srresnet", 4).state_dict().keys()


def test_fdsrcnn_x4_network_serves_x2_from_its_first_module():
    model = build_model("fdsrcnn", 4).eval()
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        x2, x4 = model(x, scale=2), model(x)
        assert x2.shape == (1, 3, 18, 22) and x4.shape == (1, 3, 36, 44)
        for p in model.stages[1].parameters():  # the second module plays no part in x2
            p.add_(1.0)
        torch.testing.assert_close(model(x, scale=2), x2)
        assert not torch.allclose(model(x), x4)
    with pytest.raises(ValueError, match="serves x2/x4, not x3"):
        model(x, scale=3)


def test_sisr_core_has_no_import_cycle():
    """No module of sisr_core imports, even lazily inside a function, a module that imports it back (the
    loader and the engine once did so through the importers). Allowed: the registry's ``_load_all``, which
    imports the models package so that each network registers itself."""
    import ast

    root = Path(__file__).resolve().parents[1]
    modules = {}
    for f in (root / "sisr_core").rglob("*.py"):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = f
    graph = {m: set() for m in modules}
    for module, f in modules.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sisr_core"):
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[module] |= {t for t in targets if t in modules and t != module}
    graph["sisr_core.models.registry"].discard("sisr_core.models")
    assert "sisr_core.models.loading" in graph["sisr_core.inference.engine"]  # the graph is read at all

    def reaches(start: str, goal: str) -> bool:
        todo, seen = list(graph[start]), set()
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return False

    cycles = sorted(m for m in graph if reaches(m, m))
    assert cycles == []
