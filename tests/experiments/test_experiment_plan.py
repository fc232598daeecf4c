"""eedi.experiments.plan: a plan's rows, and every way a plan is refused before anything runs."""

import pytest

from eedi.errors import DataError
from eedi.experiments.plan import (baseline, differing_settings, make_args, pipeline_variables,
                                   read_plan, slot_gpus, slot_width)
from conftest import REPO

DECLARED = pipeline_variables(REPO)


def plan(tmp_path, text: str):
    path = tmp_path / "p.tsv"
    path.write_text(text.replace("|", "\t"))
    return path


def refused(tmp_path, text: str) -> str:
    with pytest.raises(DataError) as e:
        read_plan(plan(tmp_path, text), DECLARED)
    return str(e.value.message)


def test_the_makefiles_settings_are_the_columns_a_plan_may_name():
    assert {"EMBEDDER", "TRAIN_ARGS", "RERANKER", "TOP_N", "BOOST_ARGS", "TOP_K", "GPUS",
            "KERNEL_USER", "QUANT_GROUP"} <= DECLARED
    assert "RUN" not in DECLARED and "EMBEDDER_ID" not in DECLARED  # derived, not settings


def test_rows_read_with_their_settings_goals_and_baseline(tmp_path):
    rows = read_plan(plan(tmp_path, "name|EMBEDDER|TRAIN_ARGS|GOALS\n"
                                    "first|minilm||\n"
                                    "# a comment line\n"
                                    "epochs2|minilm| --epochs 2 |evaluate report\n"
                                    "baseline|||\n"), DECLARED)
    assert [r.name for r in rows] == ["first", "epochs2", "baseline"]
    assert rows[1].settings == {"EMBEDDER": "minilm", "TRAIN_ARGS": "--epochs 2"}
    assert make_args(rows[1]) == ["evaluate", "report", "EMBEDDER=minilm", "TRAIN_ARGS=--epochs 2"]
    assert make_args(rows[0]) == ["evaluate", "EMBEDDER=minilm"]
    assert baseline(rows).name == "baseline"          # by name, else the first
    assert baseline(rows[:2]).name == "first"
    assert differing_settings(rows[1], rows[2]) == {"EMBEDDER": "minilm", "TRAIN_ARGS": "--epochs 2"}
    assert differing_settings(rows[2], rows[1]) == {"EMBEDDER": "", "TRAIN_ARGS": ""}


@pytest.mark.parametrize("text, message", [
    ("name|EMBEDER\na|minilm\n", "column EMBEDER, row header: not a Make variable of this pipeline"),
    ("row|EMBEDDER\na|minilm\n", "column row, row header: the first column must be 'name'"),
    ("name|TOP_N|TOP_N\na|5|5\n", "column TOP_N, row header: appears twice"),
    ("name|RUNS_ROOT\na|x\n", "column RUNS_ROOT, row header: set by the queue itself"),
    ("name|TOP_N\n", "no rows"),
    ("name|TOP_N\na|5\nb|10\na|20\n", "column name, row 3: 'a' names two rows"),
    ("name|TOP_N\na b|5\n", "column name, row 1: 'a b': a row's name is letters"),
    ("name|TRAIN_ARGS\na|--lr $(LR)\n", "column TRAIN_ARGS, row 1: '--lr $(LR)': $ ( ) may mean something to Make or the shell"),
    # issue 38: a ; would run a second command, a # cut the line, clean wipe the run
    ("name|TRAIN_ARGS\na|--epochs 1; touch pwned\n", "column TRAIN_ARGS, row 1: '--epochs 1; touch pwned': ; may mean"),
    ("name|TRAIN_ARGS\na|--epochs 1 # comment\n", "column TRAIN_ARGS, row 1: '--epochs 1 # comment': # may mean"),
    ("name|FUSE_ARGS\na|--k 10 && touch pwned\n", "column FUSE_ARGS, row 1: '--k 10 && touch pwned': & may mean"),
    ("name|GOALS\na|evaluate clean\n", "column GOALS, row 1: 'clean' is not a goal a row may run"),
    ("name|GOALS\na|setup\n", "column GOALS, row 1: 'setup' is not a goal a row may run"),
    ("name|TRAIN_ARGS\na|--x 'y'\n", "column TRAIN_ARGS, row 1"),
    ("name|TOP_N\na|5|6\n", "row 1: 3 cells for 2 columns"),
    ("name|GOALS\na|evaluate Report\n", "column GOALS, row 1: 'Report' is not a goal a row may run"),
])
def test_a_bad_plan_is_one_error_naming_row_and_column(tmp_path, text, message):
    assert message in refused(tmp_path, text)


def test_the_goals_a_row_may_run_are_targets_of_the_pipeline():
    """ROW_GOALS names real goals (a rename in the Makefiles would leave a dead one here)."""
    from eedi.experiments.plan import REPO, ROW_GOALS
    phony = set()
    for path in [REPO / "Makefile", *sorted((REPO / "make").glob("*.mk"))]:
        for line in path.read_text().splitlines():
            if line.startswith(".PHONY:"):
                phony.update(line.split(":", 1)[1].split())
    assert ROW_GOALS <= phony and not ROW_GOALS & {"clean", "setup", "test", "experiments"}


def test_rows_may_differ_only_where_the_outputs_are_named_by_the_value(tmp_path):
    # TOP_K changes every ranking without renaming it: rows would overwrite each other
    message = refused(tmp_path, "name|TOP_K|TOP_N\na|50|5\nb|100|5\n")
    assert "column TOP_K, row 2: TOP_K differs between rows" in message
    assert "overwrite each other's outputs" in message and "make experiments TOP_K=" in message
    # folds: rows are compared on the same ones
    assert "one set of folds" in refused(tmp_path, "name|FOLD_SEED\na|1\nb|2\n")
    # one value for all rows is fine; keyed ones may differ
    rows = read_plan(plan(tmp_path, "name|TOP_K|TOP_N|TRAIN_ARGS|BOOST_ARGS|GPUS\n"
                                    "a|50|5|--epochs 2||1\nb|50|10||--objective balanced|2\n"), DECLARED)
    assert len(rows) == 2 and slot_width(rows) == 2


def test_job_slots_take_their_own_gpus_in_order():
    ids = ["0", "1", "2", "3"]
    assert slot_gpus(ids, 1, 1) == ["0"] and slot_gpus(ids, 4, 1) == ["3"]
    assert slot_gpus(ids, 2, 2) == ["2", "3"]
    assert slot_gpus([], 2, 1) == []   # no GPUs: the rows share the CPU
