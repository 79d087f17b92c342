"""The weights in weights/: each loads into its network and records how it was trained and scored, and
its recorded figures are what `sisr eval` measures today."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SET5
from sisr_core.evaluation import evaluate
from sisr_core.models.loading import load_model
from sisr_core.models.registry import get_spec
from sisr_core.weights import read_metadata

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED = sorted(WEIGHTS.glob("*.safetensors"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_file_loads_and_records_its_training_and_figures(path):
    meta = read_metadata(path)
    load_model(weights=path)  # strict: every tensor of the network, no stray keys
    training = meta["training"]
    assert training["command"].startswith("sisr train ") and training["steps"] > 0
    scales = [2, 3, 4] if get_spec(meta["model"]).multi_scale else meta["scales"]
    for scale in scales:
        for benchmark in ("Set5", "Set14"):
            figures = meta["metrics"][f"x{scale}"][benchmark]
            assert 20 < figures["psnr"] < 50 and 0 < figures["ssim"] <= 1, (path.name, scale, benchmark)
    assert meta["metrics_precision"] in ("fp32", "bf16")


@pytest.mark.parametrize("name", ["fsrcnn_x2", "espcn_x3"])
def test_recorded_figures_match_sisr_eval(name):
    """What the README table prints (the metadata) is what `sisr eval` measures, in the recorded precision."""
    path = WEIGHTS / f"{name}.safetensors"
    meta = read_metadata(path)
    scale = meta["scales"][0]
    (row,) = evaluate(None, str(path), scale, [str(SET5)], precision=meta["metrics_precision"])
    recorded = meta["metrics"][f"x{scale}"]["Set5"]
    assert row["psnr"] == pytest.approx(recorded["psnr"], abs=2e-3)
    assert row["ssim"] == pytest.approx(recorded["ssim"], abs=2e-4)
