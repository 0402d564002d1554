"""Atomic writes on a file system that refuses them: one ``WriteError`` naming the file, nothing left behind."""

import os
from pathlib import Path

import pytest

from slimdet._files import atomic_dir, write_bytes_atomic
from slimdet.errors import WriteError


def test_a_failed_write_names_the_file_and_leaves_no_temp_file(full_disk: Path):
    before = sorted(os.listdir(full_disk))
    target = full_disk / "model.pdparams"
    with pytest.raises(WriteError) as err:
        write_bytes_atomic(target, b"x" * 10_000)
    assert str(err.value).startswith(f"cannot write {target}: ")
    assert isinstance(err.value.__cause__, OSError)
    assert sorted(os.listdir(full_disk)) == before


def test_a_failed_folder_names_the_file_inside_it_and_is_removed_whole(full_disk: Path):
    before = sorted(os.listdir(full_disk))
    final = full_disk / "export"
    with pytest.raises(WriteError) as err, atomic_dir(final) as staged:
        (staged / "config").mkdir()
        with open(staged / "config" / "infer_cfg.yml", "wb") as handle:  # names no file when write() fails
            handle.write(b"x" * 10_000)
    assert str(err.value).startswith(f"cannot write {final}")
    assert sorted(os.listdir(full_disk)) == before


def test_other_os_errors_inside_a_staged_folder_pass_unchanged(tmp_path: Path):
    with pytest.raises(FileNotFoundError) as err, atomic_dir(tmp_path / "out"):
        (tmp_path / "missing.jpg").read_bytes()  # a read, not a write: not a WriteError
    assert not isinstance(err.value, WriteError)
    assert os.listdir(tmp_path) == []
