"""eedi.files: `atomic_write` is all or nothing (the target appears only when the block
succeeds, a failure keeps the previous content) and leaves no temp file, with ordinary file
permissions (not mkstemp's 0600)."""

import os

import pytest

from eedi.files import atomic_write


def test_atomic_write_success_leaves_only_the_target(tmp_path):
    target = tmp_path / "out" / "result.txt"  # parent folder is created
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done\n")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_text() == "done\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]


def test_atomic_write_failure_creates_no_target_and_no_temp(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed half-way")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("new but unfinished")
            raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_write_permissions_follow_umask(tmp_path, umask):
    target = tmp_path / "result.txt"
    previous = os.umask(umask)
    try:
        with atomic_write(target) as tmp:
            tmp.write_text("x")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_keep_unchanged_leaves_equal_bytes_alone_and_replaces_different_ones(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("same")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    with atomic_write(target, keep_unchanged=True) as tmp:
        tmp.write_text("same")
    assert target.stat().st_mtime_ns == 1_000_000_000  # Make sees no new output
    with atomic_write(target, keep_unchanged=True) as tmp:
        tmp.write_text("different")
    assert target.read_text() == "different" and target.stat().st_mtime_ns != 1_000_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]  # no temp left either way
