"""The one atomic writer: whole files or none, and every writer of user files goes through it."""
from __future__ import annotations

import errno
import os

import pytest

import sisr_core.atomic
from sisr_core.atomic import atomic_file, stale_partials, write_bytes
from sisr_core.models.loading import install_weights
from sisr_core.models.registry import build_model
from sisr_core.weights import read_weights, save_weights


def test_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_file(target) as f:
        f.write(b"first half ")
        assert not target.exists() and len(stale_partials(target)) == 1
        f.write(b"second half")
    assert target.read_bytes() == b"first half second half" and stale_partials(target) == []


def test_error_leaves_old_file_and_no_partial(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target, mode="w") as f:
            f.write("new, but cut short")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_without_overwrite_an_existing_file_is_kept(tmp_path):
    target = write_bytes(tmp_path / "a.txt", "mine")
    with pytest.raises(FileExistsError):
        write_bytes(target, "theirs", overwrite=False)
    assert target.read_text() == "mine" and list(tmp_path.iterdir()) == [target]
    assert write_bytes(tmp_path / "b.txt", "new", overwrite=False).read_text() == "new"


def fail_the_move(monkeypatch):
    """The last step of every atomic write fails, as on a disk that filled up."""
    def refuse(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sisr_core.atomic.os, "replace", refuse)


def weights(path):
    meta = {"model": "espcn", "config": {"num_in_ch": 1, "num_out_ch": 1}, "scales": [2]}
    return save_weights(path, build_model("espcn", 2).state_dict(), meta)


def test_weight_files_are_written_atomically(tmp_path, monkeypatch):
    path = weights(tmp_path / "espcn_x2.safetensors")
    before = path.read_bytes()
    fail_the_move(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        weights(path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    assert read_weights(path)[1]["model"] == "espcn"


def test_installing_a_model_is_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("SISR_USER_DIR", str(tmp_path / "user"))
    source = weights(tmp_path / "source.safetensors")
    installed = install_weights(source)
    assert installed.read_bytes() == source.read_bytes()
    installed.write_bytes(b"the user's earlier model")
    fail_the_move(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        install_weights(source, overwrite=True)
    assert os.listdir(installed.parent) == [installed.name]
    assert installed.read_bytes() == b"the user's earlier model"
