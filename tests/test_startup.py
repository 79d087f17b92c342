"""How a process of ours loads torch (sisr_core.startup), checked in fresh interpreters: this one has torch."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image


def python(code: str, **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | env
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.mark.parametrize("chosen", [None, "5"])
def test_openmp_threads_spin_briefly_before_torch_loads_unless_the_user_chose(chosen):
    code = "import os, sys, sisr_core; assert 'torch' not in sys.modules; print(os.environ['GOMP_SPINCOUNT'])"
    assert python(code, **({"GOMP_SPINCOUNT": chosen} if chosen else {})) == [chosen or "10000"]


def test_torch_loads_with_the_garbage_collector_paused_and_what_it_made_frozen():
    code = """
import gc
from sisr_core.startup import loading_torch
with loading_torch():
    paused = not gc.isenabled()
    import torch
print(paused, gc.isenabled(), gc.get_freeze_count() > 100_000)
frozen = gc.get_freeze_count()
with loading_torch():  # torch is loaded: nothing more is paused or frozen
    paused = not gc.isenabled()
    garbage = [[]]
print(paused, gc.get_freeze_count() == frozen)
"""
    assert python(code) == ["True", "True", "True", "False", "True"]


def test_the_command_line_loads_torch_that_way(tmp_path):
    Image.new("RGB", (24, 16), (200, 120, 40)).save(tmp_path / "small.png")
    code = f"""
import gc, sys
from sisr_core import cli
status = cli.main(["upscale", "-q", "-m", "fsrcnn", "-s", "2", "-o", r"{tmp_path}", r"{tmp_path / 'small.png'}"])
print(status, "torch" in sys.modules, gc.isenabled(), gc.get_freeze_count() > 100_000)
"""
    assert python(code) == ["0", "True", "True", "True"]
    assert (tmp_path / "small_x2.png").exists()
