"""Issue 39: a notebook that always submits. Its clock starts in the first cell, before any
install (eedi.kaggle.time_budget.notebook_elapsed), and its second cell writes a fallback
submission (eedi.kaggle.fallback: TF-IDF with the image's own packages) before the wheels are
installed. The cells run here as the notebook runs them, in order, in one Python process."""

import os
import shutil
import subprocess
import sys

import pandas as pd
from conftest import REPO, generate, sample_map_and_chance
from eedi.kaggle.notebook import build_notebook
from eedi.kaggle.time_budget import NOTEBOOK_START_ENV, Estimates, TimeGuard, notebook_elapsed


def test_the_guard_counts_the_time_spent_before_the_driver():
    """Before the fix the guard's clock started with infer.py, after the installs: a 40-minute
    pip cell was time the budget never saw."""
    env = {NOTEBOOK_START_ENV: str(1_000.0)}
    assert notebook_elapsed(env, now=lambda: 3_400.0) == 2_400.0
    assert notebook_elapsed({}, now=lambda: 3_400.0) == 0.0
    assert notebook_elapsed({NOTEBOOK_START_ENV: "soon"}) == 0.0   # unreadable: no credit taken
    assert notebook_elapsed({NOTEBOOK_START_ENV: "9e99"}) == 0.0   # a clock in the future

    guard = TimeGuard(9 * 3600, Estimates(), clock=lambda: 100.0, already_s=2_400.0)
    fresh = TimeGuard(9 * 3600, Estimates(), clock=lambda: 100.0)
    assert guard.elapsed() == 2_400.0
    assert guard.allowance([], 0) == fresh.allowance([], 0) - 2_400.0


def notebook_code(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_the_guard_starts_and_the_fallback_is_written_before_any_install():
    cells = notebook_code(build_notebook("me/eedi-code", "me/eedi-wheels"))
    starts = next(i for i, c in enumerate(cells) if NOTEBOOK_START_ENV in c)
    fallback = next(i for i, c in enumerate(cells) if "eedi.kaggle.fallback" in c)
    install = next(i for i, c in enumerate(cells) if "install_wheels(" in c)
    assert starts < fallback < install
    first = cells[starts]
    assert first.index("time guard:") < first.index("import sys")  # said before anything else


def notebook_inputs(tmp_path, with_competition: bool):
    """A /kaggle/input with the code dataset (scripts/ only) and, maybe, the competition."""
    root = tmp_path / "input"
    shutil.copytree(REPO / "scripts", root / "eedi-code" / "scripts",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if with_competition:
        data = generate(tmp_path / "data", seed=5, n_train=40, n_test=12)
        competition = root / "eedi-mining-misconceptions-in-mathematics"
        competition.mkdir()
        for name in ("train.csv", "test.csv", "misconception_mapping.csv", "sample_submission.csv"):
            shutil.copy(data / name, competition)
        return root, data
    return root, None


def run_first_cells(tmp_path, root):
    """The notebook's cells before the installs, run as the notebook runs them."""
    cells = notebook_code(build_notebook("me/eedi-code", "me/eedi-wheels"))
    install = next(i for i, c in enumerate(cells) if "install_wheels(" in c)
    script = tmp_path / "first_cells.py"
    script.write_text("\n".join(cells[:install]))
    working = tmp_path / "working"
    working.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (NOTEBOOK_START_ENV, "PYTHONPATH")}
    env |= {"KAGGLE_INPUT_ROOT": str(root), "KAGGLE_WORKING_DIR": str(working)}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                            text=True, timeout=300)
    return result, working


def test_the_guard_fallback_submission_scores_before_any_install(tmp_path):
    root, data = notebook_inputs(tmp_path, with_competition=True)
    result, working = run_first_cells(tmp_path, root)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("time guard: notebook started")
    assert any(line.startswith("fallback submission: 36 rows (TF-IDF)") for line in lines), lines

    submission = pd.read_csv(working / "submission.csv")
    assert len(submission) == 12 * 3 and list(submission.columns) == ["QuestionId_Answer",
                                                                      "MisconceptionId"]
    lists = submission["MisconceptionId"].str.split().map(lambda ids: [int(i) for i in ids])
    assert lists.map(lambda ids: len(set(ids)) == 25).all()
    score, chance = sample_map_and_chance(submission, data)
    assert score > 3 * chance  # far above chance


def test_a_guard_fallback_that_fails_is_logged_and_the_notebook_goes_on(tmp_path):
    root, _ = notebook_inputs(tmp_path, with_competition=False)
    result, working = run_first_cells(tmp_path, root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fallback submission failed:" in result.stdout
    assert not (working / "submission.csv").exists()
