"""Freshness by content (make/freshness.py): the code digest follows meaning, the modules
declared non-computing compute nothing, manifests make Make's mtime test agree with content,
and the run folder is keyed by the data's content. The Make tests run on a copy of the
repository's code (a fresh clone), so they may edit and touch every file in it."""

import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, generate

sys.path.insert(0, str(REPO / "make"))
import code_deps  # noqa: E402
import freshness  # noqa: E402


# ---------------------------------------------------------------- code digest
SOURCE = '''"""A module."""
import math


def area(r):
    """Area of a circle."""
    return math.pi * r ** 2  # the formula
'''


def test_the_code_digest_ignores_comments_docstrings_and_formatting(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(SOURCE)
    before = freshness.code_digest(path)
    for edited in (SOURCE.replace("# the formula", "# pi r squared"),
                   SOURCE.replace('"""Area of a circle."""', '"""The area: pi r^2."""'),
                   SOURCE.replace('"""A module."""\n', ""),
                   SOURCE.replace("math.pi * r ** 2", "math.pi*r**2") + "\n\n# the end\n"):
        path.write_text(edited)
        assert freshness.code_digest(path) == before, edited
    for changed in (SOURCE.replace("r ** 2", "r ** 3"), SOURCE + "\nUNUSED = 1\n"):
        path.write_text(changed)
        assert freshness.code_digest(path) != before, changed


def test_the_non_computing_modules_import_no_computing_module():
    """What keeps NON_COMPUTING honest: such a module imports from the library only modules
    that are themselves declared non-computing (no loss, no tokenizer, no file format)."""
    assert freshness.NON_COMPUTING
    for name in freshness.NON_COMPUTING:
        module = REPO / name
        assert module.is_file(), name
        imported = code_deps.imported_files(module, [REPO / "scripts"])
        library = {p.relative_to(REPO).as_posix() for p in imported if p.name != "__init__.py"}
        assert library <= freshness.NON_COMPUTING, (name, library - freshness.NON_COMPUTING)


def test_a_stages_code_leaves_the_non_computing_modules_out():
    os.chdir(REPO)
    code = {p.as_posix() for p in code_deps.code_of(Path("scripts/retrieve_tfidf.py"))}
    assert "scripts/eedi/ranking.py" in code
    assert not code & freshness.NON_COMPUTING


# ---------------------------------------------------------------- manifests and sync
def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_sync_makes_mtimes_agree_with_content(tmp_path):
    """a.txt and code.py -> b.out -> c.out, each recorded; then touches, a comment, a change."""
    a, code, b, c = (tmp_path / n for n in ("a.txt", "code.py", "b.out", "c.out"))
    a.write_text("rows\n")
    code.write_text("X = 1\n")
    b.write_text("b\n")
    c.write_text("c\n")
    digests = freshness.Digests(tmp_path / "cache.json")
    freshness.record([str(b)], [str(a), str(code)], digests)
    freshness.record([str(c)], [str(b)], digests)
    t0 = time.time() - 1000
    for i, path in enumerate((a, code, b, c)):
        set_mtime(path, t0 + i)

    # touched inputs, and a comment in the code: both outputs made newer than their inputs
    set_mtime(a, t0 + 500)
    code.write_text("X = 1  # one\n")
    assert freshness.sync([str(tmp_path)], digests) == {}
    assert a.stat().st_mtime_ns < b.stat().st_mtime_ns < c.stat().st_mtime_ns
    assert code.stat().st_mtime_ns < b.stat().st_mtime_ns

    # a changed input, its mtime kept old (a copy that keeps times): b made older than it
    a.write_text("other rows\n")
    set_mtime(a, t0)
    digests = freshness.Digests(tmp_path / "cache.json")
    stale = freshness.sync([str(tmp_path)], digests)
    assert stale == {str(b): [("input", str(a))]}
    assert b.stat().st_mtime_ns < a.stat().st_mtime_ns


def test_the_digest_cache_is_keyed_by_size_mtime_and_inode(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1000)
    digests = freshness.Digests(tmp_path / "cache.json")
    first = digests.of(str(path))
    digests.save()
    cached = freshness.Digests(tmp_path / "cache.json")
    assert cached.of(str(path)) == first and not cached.changed  # read from the cache
    path.write_bytes(b"y" * 1000)  # same size, new mtime
    assert cached.of(str(path)) != first


# ---------------------------------------------------------------- Make, on a fresh clone
def clone(tmp_path: Path) -> Path:
    """The code Make needs, copied (a fresh clone: every file with a new mtime)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "Makefile", repo)
    for folder in ("make", "scripts"):
        shutil.copytree(REPO / folder, repo / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return repo


def make(repo: Path, *args) -> subprocess.CompletedProcess:
    command = ["make", "-C", str(repo), "RETRIEVED=tfidf", "EVALUATE=tfidf", "FINAL=tfidf",
               *args, f"RUNS_ROOT={repo / 'runs'}", f"MODELS_ROOT={repo / 'models'}",
               f"SUBMISSION={repo / 'submission.csv'}", f"PY={sys.executable}", "SETUP="]
    return subprocess.run(command, capture_output=True, text=True)


def steps(result) -> list[str]:
    """The commands a (dry) run printed: every stdout line but Make's own messages."""
    return [line for line in result.stdout.splitlines()
            if line.strip() and not line.startswith("make")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A copy of the code and a generated dataset, after `make submission evaluate`."""
    tmp = tmp_path_factory.mktemp("fresh")
    repo = clone(tmp)
    data = generate(tmp / "data", seed=3)
    result = make(repo, "submission", "evaluate", f"DATA_DIR={data}")
    assert result.returncode == 0, result.stderr[-3000:]
    return repo, data


def outputs(repo: Path) -> dict:
    return {p: p.read_bytes() for p in (repo / "runs").rglob("*")
            if p.is_file() and p.suffix in (".parquet", ".json", ".csv", ".txt")
            and p.name != ".digests.json"}


def test_after_a_finished_run_a_dry_run_lists_nothing(finished):
    repo, data = finished
    dry = make(repo, "-n", "submission", "evaluate", f"DATA_DIR={data}")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert steps(dry) == []


def test_touches_comments_and_docstrings_rerun_nothing(finished):
    """A touch of every file, a comment and a docstring in every module, a new unused
    statement in the run log: no step runs, no output changes."""
    repo, data = finished
    before = outputs(repo)
    for path in (repo / "scripts").rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        if ast.get_docstring(tree) is not None:  # edit the module's docstring
            quote = text.index('"""') + 3
            text = text[:quote] + "Edited. " + text[quote:]
        path.write_text(text + "\n# a comment\n")
    run_log = repo / "scripts/eedi/run_log.py"
    run_log.write_text(run_log.read_text() + "\n_UNUSED = 'a new statement'\n")
    for path in [*repo.rglob("*"), *data.iterdir()]:
        if path.is_file():
            path.touch()
    dry = make(repo, "-n", "submission", "evaluate", f"DATA_DIR={data}")
    assert steps(dry) == [], dry.stdout
    again = make(repo, "submission", "evaluate", f"DATA_DIR={data}")
    assert again.returncode == 0 and "scripts/" not in again.stdout, again.stdout
    assert outputs(repo) == before


def test_why_names_a_changed_setting_and_accept_takes_a_code_change(finished):
    repo, data = finished
    why = make(repo, "-s", "why", "evaluate", f"DATA_DIR={data}", "TOP_K=30")
    assert why.returncode == 0, why.stderr[-2000:]
    assert "settings changed: TOP_K '' -> '30'" in why.stdout
    assert "train_tfidf.parquet" in why.stdout
    # a setting keyed in a model's name: the model was never made with it, and why says which
    why = make(repo, "-s", "why", "evaluate", f"DATA_DIR={data}", "TRAIN_ARGS=--epochs 1",
               "EVALUATE=$(EMBEDDER_ID)-ft")
    assert why.returncode == 0, why.stderr[-2000:]
    assert "never made: settings changed: TRAIN_ARGS '' -> '--epochs 1'" in why.stdout, why.stdout

    # a change of meaning in one stage's code: that stage and what reads it, nothing else
    script = repo / "scripts/retrieve_tfidf.py"
    original = script.read_text()
    script.write_text(original + "\nCHANGED = True\n")
    why = make(repo, "-s", "why", "evaluate", f"DATA_DIR={data}")
    assert f"code changed: scripts/retrieve_tfidf.py" in why.stdout, why.stdout
    assert "folds-" not in why.stdout and "train_long" not in why.stdout
    accepted = make(repo, "-s", "accept", "evaluate", f"DATA_DIR={data}")
    assert "accepted:" in accepted.stdout and "train_tfidf.parquet" in accepted.stdout
    assert steps(make(repo, "-n", "evaluate", f"DATA_DIR={data}")) == []
    script.write_text(original)
    assert make(repo, "-s", "accept", "evaluate", f"DATA_DIR={data}").returncode == 0


def test_the_same_csvs_at_two_paths_share_one_run_folder(finished, tmp_path):
    repo, data = finished
    copy = tmp_path / "elsewhere"
    shutil.copytree(data, copy)
    run = make(repo, "-s", "print-RUN", f"DATA_DIR={data}").stdout.strip()
    assert run and make(repo, "-s", "print-RUN", f"DATA_DIR={copy}").stdout.strip() == run
    assert steps(make(repo, "-n", "submission", "evaluate", f"DATA_DIR={copy}")) == []
    # an edited train.csv at the same path: another key
    train = copy / "train.csv"
    lines = train.read_text().splitlines(keepends=True)
    train.write_text("".join(lines[:-1]))  # one question fewer
    assert make(repo, "-s", "print-RUN", f"DATA_DIR={copy}").stdout.strip() != run
