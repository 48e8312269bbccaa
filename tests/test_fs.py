"""OS errors as one line, writability checks that write nothing, orphan temporaries."""
import errno
import os

import pytest

from chaossim.errors import StoreError
from chaossim.fs import check_writable, os_error_message, remove_orphan_temporaries


def test_os_error_message_names_path_cause_and_advice():
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/r/checkpoint.npz")
    assert os_error_message(exc, "free some space") == (
        "cannot write /data/r/checkpoint.npz: the disk is full ([Errno 28] No space left on device); free some space.")
    ro = os_error_message(OSError(errno.EROFS, os.strerror(errno.EROFS), "/ro/x"))
    assert ro.startswith("cannot write /ro/x: the file system is read-only") and "writable location" in ro


def test_check_writable_probes_the_nearest_existing_folder_and_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable(target, "the folder", "give --out") == target
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder; give --out"):
        check_writable(tmp_path / "file" / "sub", "the folder", "give --out")


def test_orphan_temporaries_are_removed_by_target(tmp_path):
    for name in (".checkpoint.npz.ab12_xyz.tmp", ".meta.json.q1w2e3r4.tmp", "keep.tmp", ".notes.txt"):
        (tmp_path / name).write_text("x")
    removed = remove_orphan_temporaries(tmp_path, names={"checkpoint.npz"})
    assert [p.name for p in removed] == [".checkpoint.npz.ab12_xyz.tmp"]
    remove_orphan_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt", "keep.tmp"]
