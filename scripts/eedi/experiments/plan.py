"""An experiment plan: experiments/<name>.tsv, one row per experiment, one column per Make variable.

    name       EMBEDDER  TRAIN_ARGS             BOOST_ARGS
    baseline   minilm
    epochs2    minilm    --epochs 2
    balanced   minilm                           --objective balanced

    rows = read_plan("experiments/minilm.tsv", declared_variables(["Makefile", "make/kaggle.mk"]))
    rows[0]          # Row(name="baseline", settings={"EMBEDDER": "minilm"}, goals=["evaluate"])
    make_args(row)   # ["evaluate", "EMBEDDER=minilm"]: what the row's make is given

An empty cell leaves that variable unset (Make's default). Optional columns: GOALS (the row's
make goals, default evaluate) and GPUS (GPUs a row's jobs use; Make's own variable). The row
named baseline, else the first, is what the others are compared with.

Rows run side by side and must never overwrite each other's outputs: a row may vary a variable
only if the outputs it changes are named by it (the Makefile's settings keys: TRAIN_ARGS ->
minilm~<key>, TOP_N -> X.rr<N>-..., a model or ranking name), or if it changes no output
(GPUS, ENGINE). Any other variable (TOP_K, ROUND2_ARGS, ...) must hold one value in every row,
and rows are compared on one dataset and one set of folds. A plan breaking any rule is one
DataError naming the row and column, raised before anything runs.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from eedi.errors import DataError

NAME = "name"
GOALS = "GOALS"
DEFAULT_GOALS = ("evaluate",)
BASELINE = "baseline"
# Variables whose outputs are named by their value (settings keys, model and ranking names, a
# hash of EVALUATE), or that change no output: rows may differ in these.
ROW_VARIABLES = frozenset({
    "EMBEDDER", "MODEL", "TRAIN_ARGS", "NEGATIVES", "RETRIEVED", "RERANKER", "TRAIN_RERANKER_ARGS",
    "TOP_N", "FUSE", "FUSE_ARGS", "BOOST_ARGS", "FINAL", "EVALUATE", "CASCADE", "SYNTH",
    "QUANT_SCHEME", "QUANT_METHOD", "QUANT_GROUP",
    "ENGINE", "GPUS", "DISTRIBUTED", "TENSOR_PARALLEL", "VLLM_PROFILE",
})
# Rows are compared on the same labelled rows and folds (the paired interval needs both).
SAME_DATA = frozenset({"DATA_DIR", "FOLD_BY", "N_FOLDS", "FOLD_SEED"})
# What the queue sets itself, or where outputs go: never a column.
QUEUE_OWNED = frozenset({"RUNS_ROOT", "MODELS_ROOT", "PY", "PYTHON", "SETUP", "SUBMISSION", "GPU",
                         "GPU_IDS", "FOLD", "PLAN", "JOBS", "NOTIFY", "CUDA_VISIBLE_DEVICES",
                         "ROW_TIMEOUT", "QUEUE_GPU_IDS"})
ROW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The goals a row may run: the pipeline's own stages, never clean, setup, tests, the Kaggle
# side (pushing, submitting) or another queue.
ROW_GOALS = frozenset({"reshape", "folds", "retrieve", "train-retriever", "train-reranker",
                       "rerank", "quantize", "fuse", "cascade", "report", "cv", "evaluate",
                       "submission", "kernel-local", "budget", "budget-t4"})
# What a value may hold: words, numbers, paths, options and model keys (minilm~1a2b3c-ft).
# Anything else could mean something to Make or the shell: $ (Make's expansion), ; & | < >
# and backquotes (another command), # (a comment that cuts the line), quotes and \ (which the
# recipes' own '...' quoting would break), * ? (globs). The row runner passes values as
# arguments, never through a shell, and this keeps them so in every recipe downstream.
SAFE_VALUE = re.compile(r"[A-Za-z0-9 ._,:=/+@%~-]*")
# An overridable setting in the Makefiles: `NAME ?= value`.
DECLARED = re.compile(r"^([A-Z][A-Z0-9_]*)\s*\?=", re.M)


@dataclass
class Row:
    name: str
    settings: dict[str, str] = field(default_factory=dict)   # the non-empty cells
    goals: list[str] = field(default_factory=lambda: list(DEFAULT_GOALS))
    line: int = 0                                            # 1-based data row in the file


def declared_variables(makefiles) -> set[str]:
    """The Make variables a command line may set: every `NAME ?= ...` in the given files."""
    names = set()
    for path in makefiles:
        names.update(DECLARED.findall(Path(path).read_text()))
    return names


def read_plan(path, declared: set[str]) -> list[Row]:
    """The plan's rows, checked (see the module's rules). Out: rows in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "no such plan (experiments/<name>.tsv: a header "
                                          "`name<TAB>VARIABLE...`, one row per experiment)")
    with open(path, newline="") as f:
        lines = [line for line in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                 if line and not line[0].startswith("#")]
    if not lines:
        raise DataError(path, None, None, "empty: it needs a header and at least one row")
    header, body = [c.strip() for c in lines[0]], lines[1:]
    if not header or header[0] != NAME:
        raise DataError(path, header[0] if header else None, "header",
                        f"the first column must be {NAME!r}")
    for i, column in enumerate(header[1:], start=2):
        if column in header[:i - 1]:
            raise DataError(path, column, "header", "appears twice")
        if column == GOALS:
            continue
        if column in QUEUE_OWNED:
            raise DataError(path, column, "header", "set by the queue itself, not by a row "
                                                    "(give it to make experiments if needed)")
        if column not in declared:
            raise DataError(path, column, "header",
                            f"not a Make variable of this pipeline (known: {', '.join(sorted(declared))})")
    if not body:
        raise DataError(path, None, None, "no rows: the header alone runs nothing")

    rows, names = [], set()
    for n, cells in enumerate(body, start=1):
        if len(cells) > len(header):
            raise DataError(path, None, n, f"{len(cells)} cells for {len(header)} columns "
                                           "(a value holding a tab?)")
        cells = [c.strip() for c in cells] + [""] * (len(header) - len(cells))
        name = cells[0]
        if not ROW_NAME.fullmatch(name):
            raise DataError(path, NAME, n, f"{name!r}: a row's name is letters, digits, '.', "
                                           "'_' and '-' (it names its log and result files)")
        if name in names:
            raise DataError(path, NAME, n, f"{name!r} names two rows")
        names.add(name)
        row = Row(name, line=n)
        for column, value in zip(header[1:], cells[1:]):
            if not value:
                continue
            if not SAFE_VALUE.fullmatch(value):
                bad = sorted(set(SAFE_VALUE.sub("", value)))
                raise DataError(path, column, n, f"{value!r}: {' '.join(bad)} may mean something "
                                                 "to Make or the shell; a value holds letters, "
                                                 "digits, spaces and . _ , : = / + @ % ~ -")
            if column == GOALS:
                goals = value.split()
                bad = [g for g in goals if g not in ROW_GOALS]
                if bad:
                    raise DataError(path, column, n, f"{bad[0]!r} is not a goal a row may run "
                                                     f"(one of: {', '.join(sorted(ROW_GOALS))})")
                row.goals = goals
            else:
                row.settings[column] = value
        rows.append(row)
    _check_side_by_side(path, header, rows)
    return rows


def _check_side_by_side(path, header, rows: list[Row]) -> None:
    """Rows may differ only where outputs are named by the value (see the module's rules)."""
    for column in header[1:]:
        if column == GOALS or column in ROW_VARIABLES:
            continue
        values = {row.settings.get(column, "") for row in rows}
        if len(values) > 1:
            first = next(r for r in rows if r.settings.get(column, "") != rows[0].settings.get(column, ""))
            why = ("rows are compared on one dataset and one set of folds"
                   if column in SAME_DATA else
                   f"what {column} changes is not named by it (no settings key): rows with "
                   "different values would overwrite each other's outputs")
            raise DataError(path, column, first.line,
                            f"{column} differs between rows ({' vs '.join(map(repr, sorted(values)))}): "
                            f"{why}; give it one value for the whole queue "
                            f"(make experiments {column}=...)")


def baseline(rows: list[Row]) -> Row:
    """The row the others are compared with: the one named baseline, else the first."""
    return next((r for r in rows if r.name == BASELINE), rows[0])


def differing_settings(row: Row, base: Row) -> dict[str, str]:
    """The row's settings that are not the baseline's ("" where the row leaves one unset)."""
    keys = sorted(set(row.settings) | set(base.settings))
    return {k: row.settings.get(k, "") for k in keys if row.settings.get(k, "") != base.settings.get(k, "")}


def make_args(row: Row) -> list[str]:
    """The row's make command line after `make`: its goals, then VARIABLE=value each."""
    return [*row.goals, *(f"{k}={v}" for k, v in row.settings.items())]


# The checkout holding the Makefile: scripts/eedi/experiments/plan.py -> ../../..
REPO = Path(__file__).resolve().parents[3]


def pipeline_variables(root=REPO) -> set[str]:
    """declared_variables of the pipeline's Makefile and make/*.mk under `root`."""
    root = Path(root)
    return declared_variables([root / "Makefile", *sorted((root / "make").glob("*.mk"))])


def slot_width(rows: list[Row]) -> int:
    """GPUs a job slot holds: the most any row asks for (its GPUS), at least 1."""
    return max([int(r.settings.get("GPUS", 1)) for r in rows] + [1])


def slot_gpus(gpu_ids: list[str], slot: int, width: int) -> list[str]:
    """GNU parallel's job slot `slot` (1-based, its {%}) holds GPUs `width` at a time, in order:
    slot 2 of width 2 over 0 1 2 3 -> ["2", "3"]."""
    return gpu_ids[(slot - 1) * width: slot * width]


def rows_at_a_time(plan_path, rows: list[Row], jobs: int | None, gpus: list[str]) -> int:
    """The rows to run at a time: `jobs`, else as many as the GPUs hold (their count / the
    largest GPUS of a row), 1 without GPUs. DataError when the job slots ask for more GPUs
    than there are (JOBS x the largest GPUS of a row)."""
    width = slot_width(rows)
    if gpus and width > len(gpus):
        raise DataError(plan_path, "GPUS", None, f"a row asks for GPUS={width} and there are "
                                                 f"{len(gpus)} ({' '.join(gpus)})")
    jobs = jobs or (len(gpus) // width if gpus else 1)
    if gpus and jobs * width > len(gpus):
        raise DataError(plan_path, "GPUS", None,
                        f"JOBS={jobs} rows at a time x {width} GPUs each needs {jobs * width} "
                        f"GPUs, and there are {len(gpus)} ({' '.join(gpus)}): lower JOBS")
    return jobs


def command_line_settings(makeflags: str, declared: set[str]) -> dict[str, str]:
    """The pipeline settings given on make's command line, from MAKEFLAGS (Make passes them to
    every recipe there, after " -- ", spaces in a value escaped by a backslash), less what the
    queue owns (JOBS, NOTIFY, ...): what every row of this queue runs with besides its cells.

    >>> command_line_settings("s -- PLAN=x.tsv TRAIN_ARGS=--epochs\\ 1 JOBS=2", {"TRAIN_ARGS", "PLAN", "JOBS"})
    {'TRAIN_ARGS': '--epochs 1'}
    """
    _, _, assignments = (" " + makeflags).partition(" -- ")
    words = re.split(r"(?<!\\) ", assignments.strip()) if assignments.strip() else []
    out = {}
    for word in words:
        name, eq, value = word.replace("\\ ", " ").replace("$$", "$").partition("=")
        if eq and name in declared and name not in QUEUE_OWNED:
            out[name] = value
    return dict(sorted(out.items()))


def queue_digest(plan_text: str, settings: dict[str, str]) -> str:
    """What a queue's record is keyed by: the plan's text and the command line's settings
    (12 hex digits of their sha256). Another plan, or other settings for every row, is another
    queue: its rows run again (cheaply where their outputs exist) instead of counting as done."""
    import hashlib
    import json
    return hashlib.sha256(json.dumps([plan_text, settings]).encode()).hexdigest()[:12]
