"""make/code_deps.py: each stage's code is its script plus every library module it imports,
transitively, and `make check-deps` fails, naming the target and the module, when a rule's
prerequisites miss one (a Makefile whose list lost a module)."""

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "make"))
import code_deps  # noqa: E402


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the tool names files relative to the checkout, as Make does


def names(script):
    return [str(p) for p in code_deps.code_of(REPO.joinpath(script).relative_to(REPO))]


def test_a_stage_depends_on_what_its_modules_import_and_nothing_else():
    code = names("scripts/train_retriever.py")
    assert code[0] == "scripts/train_retriever.py"
    # imported by embedding.py, not by the script: the dependency the hand lists once missed
    assert "scripts/eedi/precision.py" in code
    assert "scripts/eedi/retrieval/retriever_training.py" in code
    for other in ("scripts/eedi/ensemble/cascade.py", "scripts/eedi/rerank/reranker.py",
                  "scripts/eedi/registry.py", "scripts/eedi/__init__.py"):
        assert other not in code
    # an import inside a function counts (it runs too): reranking.py imports vllm_scoring there
    assert "scripts/eedi/rerank/vllm_scoring.py" in names("scripts/rerank.py")
    # a script under scripts/kaggle/ resolves the library through scripts/
    assert "scripts/eedi/kaggle/plan.py" in names("scripts/kaggle/infer.py")


def test_the_written_file_has_one_variable_per_script(tmp_path):
    out = tmp_path / "code-deps.mk"
    code_deps.write(out)
    lines = dict(line.split(" := ") for line in out.read_text().splitlines()[1:])
    assert lines["CODE.cascade"].split() == names("scripts/cascade.py")
    assert "CODE.kaggle/make_kernel" in lines and "CODE.eedi/files" not in lines


def database(tmp_path, makefile):
    """Make's database of `makefile` run from the checkout, with every rule present."""
    out = subprocess.run(["make", "-s", "-C", str(REPO), "-f", str(makefile), "-pn", "print-RUN",
                          "RERANKER=smollm135m", "GPUS=2", f"RUNS_ROOT={tmp_path / 'runs'}",
                          f"PY={sys.executable}", "SETUP="], capture_output=True, text=True)
    return out.stdout


def test_check_passes_on_the_makefile_and_fails_when_a_rule_loses_a_module(tmp_path):
    assert code_deps.problems(database(tmp_path, REPO / "Makefile")) == []
    broken = tmp_path / "Makefile"
    text = (REPO / "Makefile").read_text()
    lost = "$(filter-out scripts/eedi/precision.py,$(call code,train_retriever))"
    assert text.count("$(call code,train_retriever)") >= 1
    broken.write_text(text.replace("$(call code,train_retriever)", lost))
    found = code_deps.problems(database(tmp_path, broken))
    assert found and all("runs scripts/train_retriever.py, which imports "
                         "scripts/eedi/precision.py, but does not depend on it" in f for f in found)
    assert any(f.split(":")[0].endswith("/fold0/train.json") for f in found)
    assert any(f.split(":")[0].endswith("/all/train.json") for f in found)


def test_make_check_deps_exits_non_zero_naming_the_problem(tmp_path):
    ok = subprocess.run(["make", "-s", "-C", str(REPO), "check-deps", f"RUNS_ROOT={tmp_path}"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, str(REPO / "make/code_deps.py"), "check"],
                         input="out/x.parquet: scripts/cascade.py\n\tpython scripts/cascade.py\n",
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1
    assert "out/x.parquet: runs scripts/cascade.py, which imports scripts/eedi/ensemble/cascade.py" \
        in bad.stderr
