"""Weights across formats: the Keras project's HDF5 files and official PyTorch state dicts in, ONNX out.

Keras HDF5 (titu1994/Image-Super-Resolution); the weight names tell the two layouts apart:

* Keras 1 (``level1_W``): kernels (out, in, kh, kw), Theano-ordered. Theano convolves, so every kernel
  is flipped; measured on 160 px centre crops of Set5 x2, ``dsr`` gives 38.01 dB flipped against
  37.89 dB unflipped (``sr``/``esr`` move by < 0.03 dB either way). ``Deconvolution2D`` kernels,
  also (out, in, kh, kw), go into a ``ConvTranspose2d`` with in and out swapped, flipped as well.
* Keras 2 (``kernel:0``): kernels (kh, kw, in, out) and TensorFlow correlation: permuted, not flipped;
  ``Conv2DTranspose`` kernels (kh, kw, out, in) permute the same way into (in, out, kh, kw).

The Keras project fed RGB in [0, 1]. Its pre-upsampling networks (sr, esr, dsr) were trained on PIL
bicubic enlargements and its ``upscale`` used SciPy's default (bilinear) resize; imported, they run on
our MATLAB bicubic enlargement (``LoadedModel.forward_rgb``) like every pre-upsampling network here.
Its ``rnsr`` and the distilled student were trained on a much blurrier LR (Gaussian blur, bicubic down
and up, bilinear down) and over-sharpen benchmark LR: converted faithfully, they beat bicubic on that
degradation only. ``nlrnsr`` beats bicubic on benchmark LR, although Keras's non-local blocks max-pool
phi and g by 2 over the flattened positions and ours attend over all positions.

Official PyTorch state dicts (EDSR-PyTorch, WDSR): :func:`infer_config` reads the hyperparameters back
from the tensor shapes, so such files load with only the model name known.

ONNX: :func:`export_onnx` exports the whole RGB -> RGB function of ``sisr upscale --mode fast``
(colour conversion and MATLAB bicubic included), with dynamic height and width.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.atomic import atomic_file
from sisr_core.inference.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr_core.models.edsr import DIV2K_RGB_MEAN
from sisr_core.models.registry import build_model, get_spec
from sisr_core.resize import _cubic
from sisr_core.weights import WeightsError, count_parameters, load_state, read_weights, save_weights

KERAS_SOURCE = "Keras Image-Super-Resolution (converted)"
KERAS_FILES = {  # the x2 weight files the Keras project shipped, by the network they hold
    "sr": "SR Weights 2X.h5",
    "esr": "Expantion SR Weights 2X.h5",
    "dsr": "Denoising AutoEncoder 2X.h5",
    "rnsr": "ResNetSR 2X.h5",
    "distilled_rnsr": "DistilledResNetSR 2X.h5",
    "nlrnsr": "NonLocalResNetSR 2X.h5",
}
KERAS_MODELS = tuple(KERAS_FILES)
INFERABLE_MODELS = ("edsr", "edsr-baseline", "wdsr-a", "wdsr-b")


def _indices(state: dict[str, Tensor], prefix: str) -> list[int]:
    """Sorted integer child indices under ``prefix`` (``body.`` -> [0, 1, ...])."""
    return sorted({int(k[len(prefix):].split(".")[0]) for k in state if re.match(re.escape(prefix) + r"\d+\.", k)})


# --- Keras HDF5 -------------------------------------------------------------------------------------


def read_keras_h5(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> {weight name: array} (Keras's order) of a Keras weight file, in layer order."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            layers = {}
            for raw in group.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                names = [w.decode() if isinstance(w, bytes) else str(w) for w in group[name].attrs["weight_names"]]
                if names:
                    layers[name] = {w: np.asarray(group[name][w]) for w in names}
    except (OSError, KeyError) as exc:
        raise WeightsError(f"{path}: not a Keras HDF5 weight file ({exc})") from None
    return layers


def _srcnn_pairs(model: str, layers: dict) -> list[tuple[str, str]]:
    if model == "dsr":  # auto-named Keras layers, mapped in creation order
        convs = [n for n in layers if "deconv" not in n and "transpose" not in n]
        deconvs = [n for n in layers if "deconv" in n or "transpose" in n]
        return list(zip(("conv1", "conv2", "conv3"), convs)) + list(zip(("deconv1", "deconv2"), deconvs))
    names = ["level1", "level2", "output"] if model == "sr" else ["level1", "lavel1_1", "lavel1_2", "lavel1_3", "output"]
    return [(n, n) for n in names]


def _resnet_pairs(model: str, layers: dict) -> list[tuple[str, str]]:
    p = "student_" if any(n.startswith("student_") for n in layers) else ""
    pairs = [("conv1", f"{p}sr_res_conv1")]
    i = 1
    while f"{p}sr_res_conv_{i}_1" in layers:
        for j in (1, 2):
            pairs += [(f"body.{i - 1}.conv{j}", f"{p}sr_res_conv_{i}_{j}"),
                      (f"body.{i - 1}.bn{j}", f"{p}sr_res_batchnorm_{i}_{j}")]
        i += 1
    pairs += [("upsample.1", f"{p}sr_res_filter1_1"), ("conv_final", f"{p}sr_res_conv_final")]
    if model == "nlrnsr":  # auto-named 1x1 convs: theta, phi, g, out of block 1, then of block 2
        auto = sorted((n for n in layers if re.fullmatch(r"conv2d_\d+", n)), key=lambda n: int(n.rsplit("_", 1)[1]))
        ours = [f"non_local{b}.{part}" for b in (1, 2) for part in ("theta", "phi", "g", "out")]
        pairs += list(zip(ours, auto))
    return pairs


def _keras_kernel(w: np.ndarray, keras1: bool, transposed: bool) -> Tensor:
    """A Keras kernel as a PyTorch Conv2d (out, in, kh, kw) or ConvTranspose2d (in, out, kh, kw) weight."""
    t = torch.from_numpy(np.ascontiguousarray(w)).float()
    if not keras1:
        return t.permute(3, 2, 0, 1).contiguous()
    t = t.flip(-1, -2)  # Theano convolves; PyTorch correlates
    return (t.transpose(0, 1) if transposed else t).contiguous()


def _keras_config(model: str, state: dict[str, Tensor]) -> dict:
    """Our network config read from the converted tensors."""
    if model in ("sr", "esr", "dsr"):
        first, last = ("conv1", "conv3") if model == "dsr" else ("level1", "output")
        cfg = dict(num_in_ch=state[f"{first}.weight"].shape[1], num_out_ch=state[f"{last}.weight"].shape[0],
                   num_feat=state[f"{first}.weight"].shape[0], residual=False)
        if model != "dsr":
            cfg["num_feat2"] = state[f"{'level2' if model == 'sr' else 'lavel1_1'}.weight"].shape[0]
        return cfg
    return dict(num_in_ch=state["conv1.weight"].shape[1], num_out_ch=state["conv_final.weight"].shape[0],
                num_feat=state["conv1.weight"].shape[0], num_block=len(_indices(state, "body.")),
                upsampler="nearest", num_up_feat=state["upsample.1.weight"].shape[0], batch_norm=True)


def keras_state_dict(model: str, path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """Convert a Keras project weight file for ``model``; returns (state dict, config)."""
    if model not in KERAS_MODELS:
        raise ValueError(f"no Keras importer for {model!r}; Keras models: {', '.join(KERAS_MODELS)}")
    layers = read_keras_h5(path)
    keras1 = not any(":0" in w for weights in layers.values() for w in weights)
    pairs = _srcnn_pairs(model, layers) if model in ("sr", "esr", "dsr") else _resnet_pairs(model, layers)
    state: dict[str, Tensor] = {}
    for ours, theirs in pairs:
        if theirs not in layers:
            raise WeightsError(f"{path}: no Keras layer {theirs!r}; is this the {model!r} model?")
        arrays = list(layers[theirs].values())
        if arrays[0].ndim == 4:
            state[f"{ours}.weight"] = _keras_kernel(arrays[0], keras1, ours.startswith("deconv"))
            if len(arrays) > 1:
                state[f"{ours}.bias"] = torch.from_numpy(arrays[1]).float()
        else:  # BatchNormalization: gamma, beta, moving mean, moving variance
            for key, arr in zip(("weight", "bias", "running_mean", "running_var"), arrays):
                state[f"{ours}.{key}"] = torch.from_numpy(arr).float()
            state[f"{ours}.num_batches_tracked"] = torch.tensor(0)
    unused = set(layers) - {theirs for _, theirs in pairs}
    if unused:
        raise WeightsError(f"{path}: Keras layers not used by {model!r}: {', '.join(sorted(unused))}")
    return state, _keras_config(model, state)


def import_keras(path: str | os.PathLike, model: str, out: str | os.PathLike) -> Path:
    """Convert a Keras project HDF5 file into our safetensors format with metadata; checks it loads."""
    state, config = keras_state_dict(model, path)
    network = build_model(model, 2, **config)
    load_state(network, state, source=str(path))
    meta = {"model": model, "config": config, "scales": [2], "color": "rgb" if config["num_in_ch"] == 3 else "y",
            "value_range": [0, 1], "params": count_parameters(network), "source": KERAS_SOURCE,
            "converted_from": Path(path).name}
    return save_weights(out, state, meta, half=False)


# --- Official PyTorch state dicts ---------------------------------------------------------------------


def _pixel_shuffle_scale(out_ch: int, ch: int, key: str) -> int:
    scale = math.isqrt(out_ch // ch)
    if scale < 2 or scale * scale * ch != out_ch:
        raise WeightsError(f"{key}: {out_ch} output channels are not a pixel-shuffle of {ch} channels")
    return scale


def infer_config(model_name: str, state: dict[str, Tensor]) -> tuple[dict, int]:
    """(config, scale) of an official EDSR-PyTorch or WDSR state dict, read from its tensor shapes."""
    try:
        if model_name in ("edsr", "edsr-baseline"):
            return _infer_edsr(model_name, state)
        if model_name in ("wdsr-a", "wdsr-b"):
            return _infer_wdsr(model_name, state)
    except KeyError as exc:
        raise WeightsError(f"not a {model_name} state dict: no tensor {exc.args[0]!r}") from None
    raise ValueError(f"cannot infer a config for {model_name!r}; supported: {', '.join(INFERABLE_MODELS)}")


def _infer_edsr(name: str, state: dict[str, Tensor]) -> tuple[dict, int]:
    head = state["head.0.weight"]
    num_feat, num_in_ch = head.shape[:2]
    blocks = _indices(state, "body.")
    ups = _indices(state, "tail.0.")  # x2/x3: one conv (tail.0.0); x4: two (tail.0.0, tail.0.2)
    scale = 1
    for i in ups:
        scale *= _pixel_shuffle_scale(state[f"tail.0.{i}.weight"].shape[0], num_feat, f"tail.0.{i}.weight")
    # The official MeanShift bias is -rgb_range * mean (rgb_range 255): the file tells its value range.
    rgb_range = round(float(-state["sub_mean.bias"][0]) / DIV2K_RGB_MEAN[0])
    config = dict(num_in_ch=num_in_ch, num_out_ch=state["tail.1.weight"].shape[0], num_feat=num_feat,
                  num_block=len(blocks) - 1, rgb_range=rgb_range,
                  res_scale=get_spec(name).default_config["res_scale"])
    return config, scale


def _infer_wdsr(name: str, state: dict[str, Tensor]) -> tuple[dict, int]:
    head = state["head.0.weight_v"]
    num_feat, num_in_ch = head.shape[:2]
    scale = _pixel_shuffle_scale(state["tail.0.weight_v"].shape[0], num_in_ch, "tail.0.weight_v")
    config = dict(num_in_ch=num_in_ch, num_out_ch=num_in_ch, num_feat=num_feat,  # official: one n_colors
                  num_block=len(_indices(state, "body.")),
                  expand=state["body.0.body.0.weight_v"].shape[0] // num_feat,
                  res_scale=get_spec(name).default_config["res_scale"])
    if name == "wdsr-b":
        low = state["body.0.body.2.weight_v"].shape[0]
        linear = low / num_feat
        while int(num_feat * linear) < low:  # WDSR-B builds int(num_feat * linear) channels
            linear = math.nextafter(linear, 1.0)
        config["linear"] = linear
    return config, scale


def state_dict_metadata(name: str, state: dict[str, Tensor], source: str = "") -> dict:
    """Metadata like our own files carry (model, config, scales, ...) for an official state dict of ``name``."""
    config, scale = infer_config(name, state)
    return {"model": name, "config": config, "scales": [scale], "color": "rgb" if config["num_in_ch"] == 3 else "y",
            "value_range": [0, 1], "source": f"{source} (official state dict, config read from its shapes)".strip()}


def import_state_dict(name: str, path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """Read an official weight file for ``name`` (wrappers unwrapped); returns (state dict, metadata)."""
    state, _ = read_weights(path)
    try:
        return state, state_dict_metadata(name, state, Path(path).name)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None


def import_weights(path: str | os.PathLike, name: str, out: str | os.PathLike) -> Path:
    """Convert an official EDSR/WDSR weight file into our safetensors format with metadata; checks it loads."""
    state, meta = import_state_dict(name, path)
    network = build_model(name, meta["scales"][0], **meta["config"])
    load_state(network, state, source=str(path))
    return save_weights(out, state, {**meta, "params": count_parameters(network)}, half=False)


# --- ONNX export --------------------------------------------------------------------------------------


class BicubicUpsample(nn.Module):
    """MATLAB ``imresize(x, s, 'bicubic')`` for an integer ``s``, as a fixed convolution: traceable at any size.

    Output pixel ``k * s + p`` mixes input pixels ``k - 2 .. k + 2`` with weights that depend only on
    the phase ``p``; borders mirror like MATLAB ("symmetric"), so inputs need at least 2 pixels a side.
    """

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        phase = (torch.arange(scale, dtype=torch.float64) + 0.5) / scale - 0.5  # sub-pixel offset of each phase
        w = _cubic(phase[:, None] - torch.arange(-2, 3, dtype=torch.float64)[None, :])
        w = w / w.sum(dim=1, keepdim=True)  # (scale, 5)
        self.register_buffer("weight", (w[:, None, :, None] * w[None, :, None, :]).reshape(-1, 1, 5, 5).float())

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        x = torch.cat([x[:, :, 0:2].flip(2), x, x[:, :, -2:].flip(2)], dim=2)
        x = torch.cat([x[:, :, :, 0:2].flip(3), x, x[:, :, :, -2:].flip(3)], dim=3)
        out = F.conv2d(x.reshape(-1, 1, h + 4, w + 4), self.weight)  # channels as batch: a fixed kernel shape
        return F.pixel_shuffle(out.reshape(n, -1, h, w), self.scale)


class RGBPipeline(nn.Module):
    """What ``sisr upscale --mode fast`` computes for one native pass, RGB (1, 3, H, W) -> RGB at ``scale``.

    The same steps as ``LoadedModel.forward_rgb`` (bicubic pre-upsampling, Y-only networks on luma
    with bicubic chroma) plus the final clamp, built from traceable parts.
    """

    def __init__(self, model, scale: int):
        super().__init__()
        self.model, self.network, self.scale = model, model.network, scale  # network: registered for export
        self.pre_upsample, self.luma_only = model.spec.pre_upsample, model.color == "y"
        self.upsample = BicubicUpsample(scale)

    def run_network(self, x: Tensor) -> Tensor:
        return self.model.run_network(x, self.scale)

    def forward(self, rgb: Tensor) -> Tensor:
        x = self.upsample(rgb) if self.pre_upsample else rgb
        if not self.luma_only:
            return self.run_network(x).clamp(0, 1)
        ycbcr = rgb_to_ycbcr(x)
        cbcr = ycbcr[:, 1:] if self.pre_upsample else self.upsample(ycbcr[:, 1:])
        return ycbcr_to_rgb(torch.cat([self.run_network(ycbcr[:, :1]), cbcr], dim=1)).clamp(0, 1)


def export_onnx(model, scale: int, path: str | os.PathLike, opset: int = 17) -> Path:
    """Export a loaded model's RGB -> RGB function at ``scale`` to ONNX with dynamic height and width.

    ``model`` is a ``models.loading.LoadedModel``. Input ``input`` float32 (1, 3, H, W) RGB in [0, 1];
    output ``output`` (1, 3, H*scale, W*scale) in [0, 1]; the metadata_props say so. Uses the TorchScript
    exporter (``dynamo=False``): it needs neither onnxscript nor a network connection.
    """
    import io
    import warnings

    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'sisr-studio[onnx]'") from None

    served = model.meta.get("scales", [model.scale]) if model.spec.joint_scales else [model.scale]
    if model.scale is not None and scale not in served:
        raise ValueError(f"{model.name}: these weights are for x{'/x'.join(map(str, served))}; "
                         f"export them at --scale {served[0]}")
    if not model.spec.tile_exact:
        raise ValueError(f"{model.name}: its global attention sizes itself by the image; it cannot be exported "
                         "with dynamic height and width")
    pipeline = RGBPipeline(model, scale).eval()
    size = max(model.spec.min_size, 16)
    size = -(-size // model.spec.size_multiple) * model.spec.size_multiple
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        exported = io.BytesIO()  # the file itself is written once, whole, below
        torch.onnx.export(pipeline, (torch.rand(1, 3, size, size),), exported, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {2: "height", 3: "width"},
                                        "output": {2: "out_height", 3: "out_width"}})
    proto = onnx.load_from_string(exported.getvalue())
    props = {"model": model.name, "scale": str(scale), "input": "float32 (1, 3, H, W) RGB in [0, 1]",
             "output": f"float32 (1, 3, {scale}H, {scale}W) RGB in [0, 1]", "color": "rgb",
             "network_color": model.color, "pre_upsample": "matlab-bicubic" if model.spec.pre_upsample else "none",
             "min_size": str(max(model.spec.min_size, 2)),
             "grey_and_alpha": "grey: repeat to RGB, average the output; alpha: upscale with MATLAB bicubic",
             "source": model.meta.get("source", model.source)}
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    with atomic_file(path) as f:
        onnx.save(proto, f)
    return path
