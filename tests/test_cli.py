"""The command lines end to end: ``sisr`` and the Keras-compatible ``main.py``."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import random_image
from sisr_core.cli import main as sisr
from sisr_core.io import ImageData, read_image, write_image

REPO = Path(__file__).resolve().parents[1]
ALL_MODELS = {"sr", "esr", "dsr", "ddsr", "rnsr", "distilled_rnsr", "nlrnsr", "espcn", "fsrcnn", "edsr-baseline",
              "edsr", "wdsr-a", "wdsr-b", "srresnet", "srgan", "fdsrcnn", "span"}


@pytest.fixture()
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos dir é"
    folder.mkdir()
    write_image(folder / "a.png", ImageData(random_image(20, 24)))
    write_image(folder / "b.jpg", ImageData(random_image(18, 16, seed=1)))
    write_image(folder / "grey.png", ImageData(random_image(9, 7, c=1, seed=2)))
    rgba = ImageData(random_image(10, 12, seed=3), alpha=random_image(10, 12, c=1, seed=4)[..., 0])
    write_image(folder / "alpha.png", rgba)
    return folder


def test_models_json_lists_every_network(model_dir, capsys):
    assert sisr(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == ALL_MODELS
    fsrcnn = next(r for r in rows if r["name"] == "fsrcnn")
    assert fsrcnn["weights"] == [2, 4] and fsrcnn["params"] > 0
    assert next(r for r in rows if r["name"] == "rnsr")["weights"] == []


def test_upscale_folder_keeps_channels_and_skips_existing(model_dir, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert sisr(["upscale", str(photos), "-m", "fsrcnn", "-s", "2", "-o", str(out), "-q", "--save-intermediate"]) == 0
    a = read_image(out / "a_x2.png")
    assert a.pixels.shape == (40, 48, 3)
    assert read_image(out / "grey_x2.png").pixels.shape == (18, 14, 1)
    alpha = read_image(out / "alpha_x2.png")
    assert alpha.alpha is not None and alpha.alpha.shape == (20, 24)
    assert (out / "b_x2.jpg").is_file() and (out / "a_x2_bicubic.png").is_file()
    # a second run skips: the existing outputs are left byte for byte
    before = (out / "a_x2.png").read_bytes()
    (out / "b_x2.jpg").write_bytes(b"user's own file")
    assert sisr(["upscale", str(photos), "-m", "fsrcnn", "-o", str(out), "-q"]) == 0
    assert (out / "b_x2.jpg").read_bytes() == b"user's own file" and (out / "a_x2.png").read_bytes() == before
    assert "skipped" in capsys.readouterr().err
    assert sisr(["upscale", str(photos / "b.jpg"), "-m", "fsrcnn", "-o", str(out), "-q", "--overwrite"]) == 0
    assert read_image(out / "b_x2.jpg").pixels.shape == (36, 32, 3)


def test_bad_inputs_fail_alone_with_one_line_each(model_dir, photos, tmp_path, capsys):
    (photos / "truncated.png").write_bytes((photos / "a.png").read_bytes()[:60])
    (photos / "notes.png").write_text("not an image")
    out = tmp_path / "out"
    code = sisr(["upscale", str(photos), str(tmp_path / "missing.jpg"), "-m", "fsrcnn", "-o", str(out), "-q"])
    assert code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 3
    assert any("truncated.png" in line for line in err) and any("notes.png" in line for line in err)
    assert any("missing.jpg" in line for line in err)
    assert (out / "a_x2.png").is_file() and (out / "grey_x2.png").is_file()
    assert not (out / "truncated_x2.png").exists()


@pytest.mark.parametrize(
    "args,message",
    [(["-m", "nope"], "unknown model 'nope'"), (["-m", "rnsr"], "no trained weights"), (["-s", "0"], "scale must be"),
     (["-s", "x"], "whole number")],
)
def test_clear_errors(model_dir, photos, args, message, capsys):
    try:
        code = sisr(["upscale", str(photos / "a.png"), "-q", *args])
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_jpeg_output_reports_dropped_alpha(model_dir, photos, tmp_path, capsys):
    assert sisr(["upscale", str(photos / "alpha.png"), "-m", "fsrcnn", "--format", "jpg", "-o", str(tmp_path), "-q"]) == 0
    assert "alpha" in capsys.readouterr().err.lower()


def test_patch_mode_and_scale_chain_from_cli(model_dir, photos, tmp_path):
    out = tmp_path / "o"
    assert sisr(["upscale", str(photos / "a.png"), "-m", "fsrcnn", "-s", "8", "--mode", "patch", "--patch-size", "8",
                 "-o", str(out), "-q"]) == 0
    assert read_image(out / "a_x8.png").pixels.shape == (160, 192, 3)


def test_keras_main_spellings(model_dir, photos):
    img = photos / "a.png"
    proc = subprocess.run(
        [sys.executable, "main.py", str(img), "--model=fsrcnn", "--scale=2", "--mode=patch", "--patch_size=8",
         "--suffix=big", '--save_intermediate="True"'.replace('"', "")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = read_image(photos / "a_big(2x).png")
    assert out.pixels.shape == (40, 48, 3)
    assert (photos / "a_big(2x)_bicubic.png").is_file()
    proc = subprocess.run([sys.executable, "main.py", str(img), "--model=fsrcnn", "--save_intermediate=maybe"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "True or False" in proc.stderr


def test_sisr_program_flushes_its_report_and_exit_status_before_its_quick_exit(model_dir, photos, tmp_path, capsys):
    """`sisr` ends without the interpreter's teardown: what it printed to a pipe and its status still arrive."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered, as users run it

    def sisr_process(*args):
        return subprocess.run([sys.executable, "-m", "sisr_core.cli", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=120, env=env)

    assert sisr(["models"]) == 0
    listed = sisr_process("models")  # printed into a pipe's buffer
    assert listed.returncode == 0 and listed.stdout == capsys.readouterr().out, listed.stderr
    done = sisr_process("upscale", str(photos / "a.png"), "-m", "fsrcnn", "-o", str(tmp_path / "o"))
    assert done.returncode == 0 and done.stdout.startswith(f"wrote {tmp_path / 'o' / 'a_x2.png'}"), done.stderr
    assert read_image(tmp_path / "o" / "a_x2.png").pixels.shape == (40, 48, 3)
    failed = sisr_process("upscale", str(photos / "a.png"), str(tmp_path / "nothing.png"), "-m", "fsrcnn", "-o", str(tmp_path / "o"))
    assert failed.returncode == 1 and f"error: {tmp_path / 'nothing.png'}: no such file" in failed.stderr


def test_library_has_no_qt_or_app_imports():
    for path in (REPO / "sisr_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "qtpy", "app"), f"{path}: {name}"


def test_outputs_equal_between_fast_and_patch(model_dir, photos, tmp_path):
    for mode in ("fast", "patch"):
        assert sisr(["upscale", str(photos / "a.png"), "-m", "fsrcnn", "--mode", mode, "--patch-size", "8",
                     "-o", str(tmp_path / mode), "-q"]) == 0
    fast, patch = (read_image(tmp_path / m / "a_x2.png").pixels for m in ("fast", "patch"))
    assert np.abs(fast * 255 - patch * 255).max() <= 1.01


def test_input_is_never_the_output(model_dir, photos, capsys):
    before = (photos / "a.png").read_bytes()
    assert sisr(["upscale", str(photos / "a.png"), "-m", "fsrcnn", "--suffix", "", "--overwrite", "-q"]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert (photos / "a.png").read_bytes() == before


def test_upscale_folder_twice_beside_the_inputs_never_upscales_its_outputs(model_dir, photos, capsys):
    names = {"a.png", "b.jpg", "grey.png", "alpha.png"}
    run = ["upscale", str(photos), "-m", "fsrcnn", "-q"]
    assert sisr(run + ["--save-intermediate"]) == 0
    outputs = {n.replace(".", "_x2.") for n in names}
    bicubic = {n.replace("_x2.", "_x2_bicubic.") for n in outputs}
    assert {p.name for p in photos.iterdir()} == names | outputs | bicubic
    capsys.readouterr()
    assert sisr(run) == 0  # a re-run skips every input and takes none of the outputs as input
    assert {p.name for p in photos.iterdir()} == names | outputs | bicubic
    assert capsys.readouterr().err.count("skipped:") == len(names)
    assert sisr(run + ["-s", "4"]) == 0  # the outputs of another scale are outputs too
    assert {p.name for p in photos.iterdir()} - names - outputs - bicubic == {n.replace("_x2", "_x4") for n in outputs}
    assert sisr(["upscale", str(photos / "a_x2.png"), "-m", "fsrcnn", "-q"]) == 0  # named, it is an input
    assert (photos / "a_x2_x2.png").is_file()


def test_fp16_is_refused_on_cpu(model_dir, photos, capsys):
    assert sisr(["upscale", str(photos / "a.png"), "-m", "fsrcnn", "--device", "cpu", "--precision", "fp16", "-q"]) == 2
    assert "fp16 needs a GPU" in capsys.readouterr().err


def test_whole_command_bench_times_both_sides_on_tiny_photos():
    from sisr_core.bench import run_command_bench
    from sisr_core.zoo import default_model

    lines = []
    result = run_command_bench(runs=1, size=48, default_size=32, warmup=0, progress=lines.append)
    fsrcnn, espcn, default = result["commands"]
    assert [fsrcnn["model"], espcn["model"], default["model"]] == ["fsrcnn", "espcn", default_model()]
    for row in (fsrcnn, espcn):
        assert row["ratio"] == pytest.approx(row["seconds"] / row["opencv_seconds"]) and row["peak_mb"] > 50
    parts = default["network_seconds"] + default["import_torch_seconds"]
    assert 0 < default["network_seconds"] < default["seconds"] and default["ratio"] == pytest.approx(default["seconds"] / parts)
    assert len(lines) == 3 and "target at most 0.5" in lines[0] and "target at most 1.3" in lines[2]


def test_bench_runs_on_a_tiny_case(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert sisr(["bench", "--models", "espcn", "--scales", "2", "--size", "24", "--vs-opencv", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    ours, opencv = result["rows"][0], result["rows"][1]
    assert ours["name"] == "espcn" and ours["gflop"] > 0 and 0 < ours["fraction_of_matmul"]
    assert opencv["name"] == "opencv-espcn" and opencv["ours_speedup"] > 0
    assert result["matmul_gflops"] > 0 and "GFLOP/s" in capsys.readouterr().out
