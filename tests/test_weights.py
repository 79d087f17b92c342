"""Weight files: metadata round trip, safe loading, clear errors, unwrapping of checkpoint wrappers."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

from sisr_core.inference.engine import Upscaler
from sisr_core.models.loading import NoWeightsError, load_model
from sisr_core.models.registry import UnknownModelError, build_model
from sisr_core.weights import WeightsError, load_state, read_weights, save_weights, unwrap_state_dict


def test_safetensors_round_trip_with_metadata(tmp_path):
    net = build_model("espcn", 3)
    meta = {"model": "espcn", "config": {"num_in_ch": 1, "num_out_ch": 1}, "scales": [3], "metrics": {"x3": {}}}
    path = save_weights(tmp_path / "espcn_x3.safetensors", net.state_dict(), meta)
    state, read_meta = read_weights(path)
    assert read_meta["model"] == "espcn" and read_meta["scales"] == [3] and read_meta["format_version"] == 1
    for k, v in net.state_dict().items():
        assert torch.allclose(state[k], v, atol=1e-3 * max(1.0, v.abs().max().item()))  # stored as fp16
    model = load_model(weights=path)
    assert model.name == "espcn" and model.scale == 3 and model.color == "y"
    assert not list(tmp_path.glob(".*.part"))


class _Evil:
    """Unpickling this object would create a file: a stand-in for code in a model file."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"w": _Evil(str(marker))}}, f)
    with pytest.raises(WeightsError) as err:
        read_weights(path)
    assert not marker.exists()
    message = str(err.value)
    assert str(path) in message and "refused" in message and "\n" not in message


def test_pth_wrappers_are_unwrapped(tmp_path):
    net = build_model("fsrcnn", 2)
    prefixed = {f"module.{k}": v for k, v in net.state_dict().items()}
    for wrapper in ({"params_ema": prefixed}, {"state_dict": net.state_dict()}, {"params": prefixed}):
        path = tmp_path / "w.pth"
        torch.save(wrapper, path)
        state, _ = read_weights(path)
        assert set(state) == set(net.state_dict())
    assert set(unwrap_state_dict({"params_ema": {"a": torch.zeros(1)}, "params": {"b": torch.zeros(1)}})) == {"a"}


def test_mismatched_keys_are_named():
    net = build_model("fsrcnn", 2)
    state = dict(net.state_dict())
    state.pop("feature.0.weight")
    state["extra.weight"] = torch.zeros(1)
    state["deconv.bias"] = torch.zeros(7)
    with pytest.raises(WeightsError) as err:
        load_state(net, state, source="x.pth")
    text = str(err.value)
    assert "x.pth" in text and "feature.0.weight" in text and "extra.weight" in text and "deconv.bias" in text


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01not a weight file")
    with pytest.raises(WeightsError, match="bad.safetensors"):
        read_weights(bad)
    with pytest.raises(WeightsError, match="no such weight file"):
        read_weights(tmp_path / "missing.pth")


def test_network_without_weights_is_refused(model_dir):
    with pytest.raises(NoWeightsError, match="no trained weights"):
        load_model("edsr-baseline", 2)
    with pytest.raises(NoWeightsError):
        Upscaler("rnsr").plan(2)
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        Upscaler("nope")


def test_user_weights_are_found_for_each_scale(model_dir):
    up = Upscaler("fsrcnn")
    assert up.native_scales() == [2, 4]
    assert up.plan(8) == ([4, 2], False)
    assert os.path.samefile(up.model_for(4).source, model_dir / "fsrcnn_x4.safetensors")


def test_default_is_the_best_set5_x2_among_networks_fast_enough(model_dir):
    """The rule of the default network reads the weights' own figures: a more accurate network that is
    too slow for a 1000x1000 photo in 10 s is passed over; once it is timed within 10 s it wins."""
    from sisr_core.zoo import MAX_DEFAULT_SECONDS, default_candidates, default_model

    def publish(name, seconds, psnr):
        state, meta = read_weights(model_dir / "fsrcnn_x2.safetensors")
        if name != "fsrcnn":  # an espcn file: its own freshly built weights
            state, meta = build_model(name, 2).state_dict(), {**meta, "model": name, "config": {}}
        meta = {**meta, "speed": {"seconds_1000x1000_x2": seconds}, "metrics": {"x2": {"Set5": {"psnr": psnr}}}}
        save_weights(model_dir / f"{name}_x2.safetensors", state, meta)

    publish("fsrcnn", 3.0, 36.0)
    publish("espcn", MAX_DEFAULT_SECONDS + 1, 37.0)
    assert default_candidates() == [("fsrcnn", 3.0, 36.0), ("espcn", MAX_DEFAULT_SECONDS + 1, 37.0)]
    assert default_model() == "fsrcnn"
    publish("espcn", MAX_DEFAULT_SECONDS - 1, 37.0)
    assert default_model() == "espcn"


def test_weights_card_reads_the_metadata_once(model_dir):
    from sisr_core.weights import WeightsCard, read_card

    card = read_card(model_dir / "fsrcnn_x2.safetensors")  # written by the real trainer
    assert (card.model, card.architecture, card.scales, card.color, card.variant) == ("fsrcnn", "fsrcnn", (2,), "y", "clean")
    assert card.params > 0 and card.training["steps"] == 40
    photo = WeightsCard.from_meta({"model": "wdsr-a", "scales": [2], "training": {"degradation": "photo"},
                                   "metrics": {"x2": {"Set5": {"psnr": 36.98}}}, "speed": {"seconds_1000x1000_x2": 3.5}})
    assert photo.variant == "photo" and photo.psnr("Set5", 2) == 36.98 and photo.psnr("Set14", 2) is None
    assert photo.seconds_1000x1000_x2 == 3.5
    community = WeightsCard.from_meta({"architecture": "ESRGAN", "scales": [4], "source": "4x-UltraSharp.pth"})
    assert community.model is None and community.architecture == "ESRGAN" and community.source == "4x-UltraSharp.pth"
