"""Atomic writes: every output appears complete or not at all.

A step killed half-way (Ctrl-C, OOM, preemption) leaves at most a hidden `.tmp` file beside its
target, never a target that Make would take for finished work.

    with atomic_write("out/ranking.parquet") as tmp:
        df.to_parquet(tmp)
    write_parquet(df, "out/ranking.parquet")        # the same, for the usual formats
    with atomic_folder("models/x/fold0") as tmp:    # a whole folder, renamed when complete
        model.save_pretrained(tmp)

`keep_unchanged=True` leaves an existing target alone (mtime included) when the new bytes equal
it: a fresh copy of the same input CSVs then re-runs the step but nothing after it in Make.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, keep_unchanged: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds (and,
    with keep_unchanged, only if its bytes differ from the existing `path`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should read like any file
    try:
        yield tmp
        if not (keep_unchanged and path.is_file() and filecmp.cmp(tmp, path, shallow=False)):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp folder beside `path`; on success it replaces `path` whole.

    A model folder is complete or absent: a reader never sees half its files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parts_folder(folder: Path, fingerprint: dict) -> bool:
    """A folder of a resumable run's finished parts, kept only for the run that wrote it:
    FOLDER/manifest.json holds that run's fingerprint (settings, inputs' sizes and mtimes);
    a folder with another, or none, is deleted, then the manifest is written. Returns whether
    parts were discarded. (rerank.py's ChunkStore, synth.py's PartStore.)"""
    import json
    import shutil
    manifest = folder / "manifest.json"
    stale = folder.is_dir() and (not manifest.is_file()
                                 or json.loads(manifest.read_text()) != fingerprint)
    if stale:
        shutil.rmtree(folder)
    if not manifest.is_file():
        write_json(fingerprint, manifest)
    return stale


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, keep_unchanged: bool = False) -> None:
    with atomic_write(path, keep_unchanged) as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        df.to_csv(tmp, index=False)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=json_default) + "\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def json_default(o):
    """json.dumps(default=...): numpy scalars as Python numbers."""
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")
