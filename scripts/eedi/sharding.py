"""One stage over several GPUs: copies of the same command, each on its own GPU group and its
own slice of the rows, then their rankings merged into one.

    gpu_groups(4, per_copy=2)                 # ["0,1", "2,3"]: CUDA_VISIBLE_DEVICES per copy
    gpu_groups(2, visible="4,5,6,7")          # ["4", "5"]: inside a queue row's GPUs
    shard_argv(command, params, i, n, out_i)  # the command's own options, + --shard i/n --out out_i
    run_on_gpus(script, command, params, groups, out, rows, reference)
        # copy i runs `python script <its options> --shard i/n --out OUT.shard<i>` with
        # CUDA_VISIBLE_DEVICES=groups[i], all at once; then the shards merge into OUT (each of
        # `rows`, the row ids that were sharded, in exactly one shard) and are deleted

The copies are plain processes of the same script (what the 2nd place did with its 14B
embedders on 2 x T4): each loads its model once, nothing is shared, a copy that fails stops the
stage with its exit code, and each keeps its own resume state (rerank.py's OUT.parts/).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from eedi.ranking import merge_shards, ranking_models, read_ranking, write_ranking
from eedi.run_log import log

# Options the launcher sets for each copy itself (eedi.options.shard_options, and --out)
LAUNCHER_OPTIONS = ("gpus", "shard", "out")


def gpu_groups(gpus: int, per_copy: int = 1, visible: str | None = None) -> list[str]:
    """The first `gpus` GPUs this process may use, in groups of `per_copy` (the GPUs one model
    copy spans): one CUDA_VISIBLE_DEVICES value per copy. The GPUs: those of `visible` (default:
    this process's CUDA_VISIBLE_DEVICES, as a queue row's job slot sets it), else 0..gpus-1; a
    copy's value names the same devices, so it never leaves the GPUs it was given. ValueError
    when they do not divide, or when fewer are visible than asked for."""
    if gpus < 1 or per_copy < 1 or gpus % per_copy:
        raise ValueError(f"GPUS={gpus} is not a multiple of the tensor parallel size {per_copy}")
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else \
        [str(g) for g in range(gpus)]
    if len(ids) < gpus:
        raise ValueError(f"GPUS={gpus} but CUDA_VISIBLE_DEVICES={visible} holds {len(ids)}")
    return [",".join(ids[i:i + per_copy]) for i in range(0, gpus, per_copy)]


def shard_argv(command: click.Command, params: dict, shard: int, shards: int, out: Path,
               **overrides) -> list[str]:
    """The command line of copy `shard`: every option the command was given (from Click's
    parsed `params`, so it holds in-process too), `overrides` replacing some, and --shard i/n,
    --out OUT; never --gpus (a copy runs on the GPUs it sees)."""
    values = {**params, **overrides}
    argv = []
    for option in command.params:
        if not isinstance(option, click.Option) or option.name in LAUNCHER_OPTIONS:
            continue
        value = values.get(option.name)
        flag = max(option.opts, key=len)
        if option.is_flag:
            if value and value != option.default:
                argv.append(flag)
        elif option.multiple:
            for item in value or ():
                argv += [flag, str(item)]
        elif value is not None:
            argv += [flag, str(value)]
    return [*argv, "--shard", f"{shard}/{shards}", "--out", str(out)]


def shard_path(out: Path, shard: int) -> Path:
    return out.with_name(f"{out.name}.shard{shard}")


def run_on_gpus(script: str | Path, command: click.Command, params: dict, groups: list[str],
                out: Path, rows, reference: Path, **overrides) -> None:
    """Run len(groups) copies of `script` at once, copy i with CUDA_VISIBLE_DEVICES=groups[i]
    on the i-th slice of `rows` (the row ids a single run would write; `reference` is the file
    they come from, for errors), then merge their rankings into `out` (atomically) and delete
    the shards. A failed copy raises ClickException naming it; `out` is not written."""
    n = len(groups)
    paths = [shard_path(out, i) for i in range(n)]
    processes = []
    for i, (group, path) in enumerate(zip(groups, paths)):
        argv = [sys.executable, str(script), *shard_argv(command, params, i, n, path, **overrides)]
        log.info("copy %d/%d on CUDA_VISIBLE_DEVICES=%s: %s", i, n, group, " ".join(argv[1:]))
        processes.append(subprocess.Popen(argv, env={**os.environ, "CUDA_VISIBLE_DEVICES": group}))
    failed = [(i, p.wait()) for i, p in enumerate(processes)]
    failed = [(i, rc) for i, rc in failed if rc != 0]
    if failed:
        raise click.ClickException("; ".join(f"copy {i}/{n} (GPUs {groups[i]}) exited {rc}"
                                             for i, rc in failed))
    shards = [(path, read_ranking(path)) for path in paths]
    write_ranking(merge_shards(shards, rows, reference), out, models=ranking_models(paths[0]))
    for path in paths:
        path.unlink()
