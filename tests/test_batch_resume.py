"""A batch killed with SIGKILL leaves no partial output, and a re-run completes it identically."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import random_image
from sisr_core.io import ImageData, read_image, write_image

REPO = Path(__file__).resolve().parents[1]


def upscale_cmd(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sisr_core.cli", "upscale", str(src), "-m", "fsrcnn", "-o", str(out), "-q"]


def test_sigkill_halfway_then_rerun_equals_uninterrupted(model_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(24):
        write_image(src / f"p{i:02d}.png", ImageData(random_image(160, 200, seed=i)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    reference = tmp_path / "reference"
    subprocess.run(upscale_cmd(src, reference), check=True, env=env, timeout=300)

    out = tmp_path / "out"
    proc = subprocess.Popen(upscale_cmd(src, out), env=env)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.glob("*.png"))) < 6:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = sorted(p.name for p in out.glob("*.png"))
    assert 6 <= len(done_at_kill) < 24, "the batch should have been killed halfway"
    for name in done_at_kill:  # whatever exists is complete
        assert read_image(out / name).pixels.shape == (320, 400, 3)

    subprocess.run(upscale_cmd(src, out), check=True, env=env, timeout=300)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for ref in reference.iterdir():
        assert (out / ref.name).read_bytes() == ref.read_bytes(), ref.name
    assert not list(out.glob(".*.part"))
