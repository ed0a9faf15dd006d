"""avt_np.io's helpers for reading what a user or a kill may have damaged, and keep_as."""

import json
import os

import numpy as np
import pytest

from avt_np import io, run_dir
from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.optim import Adam


@pytest.mark.parametrize("value, kinds, expected", [
    (3, int, True), (True, int, False), (False, (int, float), False), (3.0, int, False),
    (2.5, (int, float), True), ("3", int, False), ("a", str, True),
])
def test_is_a_is_isinstance_without_bools(value, kinds, expected):
    assert io.is_a(value, kinds) is expected


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut", b"\x93NUMPY\x01\x00{'descr': <f4"])
def test_numpy_file_errors_hold_what_numpy_raises_on_damaged_files(tmp_path, content):
    path = tmp_path / "damaged.npz"
    path.write_bytes(content)
    with pytest.raises(io.NUMPY_FILE_ERRORS):
        with open(path, "rb") as f:
            dict(np.load(f, allow_pickle=False))
    with pytest.raises(ValueError, match="damaged.npz: unreadable .npz file"):
        io.read_npz(path)


def test_keep_as_links_the_file_and_keeps_the_old_contents_when_it_is_rewritten(tmp_path):
    last, kept = tmp_path / "last.npz", tmp_path / "previous.npz"
    io.write_text(last, "epoch 1")
    io.keep_as(last, kept)
    assert os.stat(last).st_ino == os.stat(kept).st_ino            # a link, not a copy
    io.write_text(last, "epoch 2")                                  # a new file: link broken
    assert kept.read_text() == "epoch 1" and last.read_text() == "epoch 2"
    io.keep_as(last, kept)
    io.keep_as(last, kept)                      # already the same file: nothing left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz", "previous.npz"]
    assert kept.read_text() == "epoch 2"


def test_keep_as_copies_where_hard_links_fail(tmp_path, monkeypatch):
    last, kept = tmp_path / "last.npz", tmp_path / "previous.npz"
    io.write_text(last, "epoch 1")

    def no_links(src, dst):
        raise OSError("hard links not supported")
    monkeypatch.setattr(os, "link", no_links)
    io.keep_as(last, kept)
    assert kept.read_text() == "epoch 1" and os.stat(last).st_ino != os.stat(kept).st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz", "previous.npz"]


def test_save_state_keeps_the_last_state_it_replaces_as_previous(tmp_path):
    config = ModelConfig(blocks=1, heads=1, d_model=8, d_head=8, d_ff=8, classes=3,
                         dims={"audio": 4, "video": 4})
    model = AudiovisualTransformer(config)
    adam = Adam(model)
    run_dir.save_state(tmp_path, model, adam, [])
    first = io.read_npz(tmp_path / "checkpoints" / "last.npz")
    row = {"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_micro_f1": 0.5, "seconds": 1.0}
    run_dir.save_state(tmp_path, model, adam, [row])
    previous = io.read_npz(tmp_path / "checkpoints" / "previous.npz")
    assert json.loads(str(previous["history"])) == [] == json.loads(str(first["history"]))
    last = io.read_npz(tmp_path / "checkpoints" / "last.npz")
    assert json.loads(str(last["history"])) == [row]
