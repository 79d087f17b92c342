"""The metric code reproduces the published bicubic figures of the benchmark protocol."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SET5
from sisr_core.data.datasets import find_images, load_rgb_uint8, to_float
from sisr_core.inference.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr_core.metrics import make_lr, mod_crop, psnr, ssim
from sisr_core.resize import imresize


def bicubic_scores(scale: int) -> tuple[float, float]:
    scores = []
    for f in find_images(SET5):
        hr = mod_crop(to_float(load_rgb_uint8(f))[None], scale)
        sr = imresize(make_lr(hr, scale), scale)
        scores.append((psnr(sr, hr, scale), ssim(sr, hr, scale)))
    return tuple(np.mean(scores, axis=0))


@pytest.mark.parametrize("scale,ref_psnr,ref_ssim", [(2, 33.66, 0.9299), (4, 28.42, 0.8104)])
def test_set5_bicubic_matches_published(scale, ref_psnr, ref_ssim):
    p, s = bicubic_scores(scale)
    assert abs(p - ref_psnr) <= 0.05
    assert abs(s - ref_ssim) <= 0.002


def test_imresize_matches_matlab_on_known_values():
    # imresize([1 2 3 4; 5 6 7 8], 0.5) worked by hand with MATLAB's algorithm: a = -0.5 cubic widened
    # 2x, symmetric padding. Row 1 becomes 2.921875 / 2 = 1.4609375 and 3.5390625; rows average.
    x = torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]])[None, None]
    out = imresize(x, 0.5)
    assert out.shape == (1, 1, 1, 2)
    assert torch.allclose(out[0, 0, 0], torch.tensor([3.4609375, 5.5390625]), atol=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(2, 3, 17, 10), (1, 1, 1, 5)])
def test_integer_upscale_equals_matlab_weight_matrices(scale, shape):
    from sisr_core.resize import _contributions

    def matrix(n: int) -> torch.Tensor:  # MATLAB's contributions as a dense (n * scale, n) matrix
        idx, w = _contributions(n, n * scale, float(scale), True)
        return torch.zeros(n * scale, n).scatter_add_(1, idx, w)

    x = torch.rand(*shape)
    expected = matrix(shape[-2]) @ x @ matrix(shape[-1]).T
    assert torch.allclose(imresize(x, scale), expected, atol=1e-5)


def test_psnr_identical_and_known_error():
    img = torch.rand(1, 3, 20, 20)
    assert psnr(img, img, 2) == float("inf")
    a = torch.zeros(1, 1, 10, 10)
    b = torch.full((1, 1, 10, 10), 10 / 255)
    assert psnr(a, b, 0, test_y_channel=False) == pytest.approx(10 * np.log10(255**2 / 100))
    assert ssim(img, img, 2) == pytest.approx(1.0)


def test_ycbcr_round_trip():
    rgb = torch.rand(2, 3, 5, 7)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-5)
    white = rgb_to_ycbcr(torch.ones(1, 3, 1, 1)).flatten() * 255
    assert torch.allclose(white, torch.tensor([235.0, 128.0, 128.0]), atol=1e-3)


def test_opencv_anchor_rows_in_eval():
    from sisr_core.evaluation import evaluate

    anchors = SET5.parents[2] / "anchors" / "opencv_dnn_superres"
    rows = evaluate(None, None, 2, [str(SET5)], baseline="bicubic", opencv=[str(anchors / "ESPCN_x2.pb")])
    by_method = {r["method"]: r for r in rows}
    assert set(by_method) == {"bicubic", "opencv-espcn"}
    assert by_method["opencv-espcn"]["psnr"] > by_method["bicubic"]["psnr"] + 0.5
    assert by_method["opencv-espcn"]["seconds_per_mp"] > 0
