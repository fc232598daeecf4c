"""eedi.kaggle.inputs: every input found by what it holds, in both of Kaggle's layouts; a
missing one is one error naming it and where it looked."""

from pathlib import Path

import pytest

from eedi.defaults import COMPETITION
from eedi.kaggle.inputs import (MissingInput, find_code, find_competition, find_kaggle_model,
                                find_named_folder, find_plan, find_weights, find_wheels, input_root,
                                weights_slug, working_dir)

QWEN = "qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kaggle_tree(root: Path, layout: str) -> dict:
    """The inputs of a notebook, mounted as Kaggle mounts them: `old` (<slug>/, <model>/...)
    or `new` (competitions/<slug>, datasets/<owner>/<slug>, models/<owner>/...)."""
    def dataset(slug):
        return root / slug if layout == "old" else root / "datasets" / "me" / slug
    comp = root / COMPETITION if layout == "old" else root / "competitions" / COMPETITION
    model = root / Path(*QWEN.split("/")[1:]) if layout == "old" else root / "models" / QWEN
    for name in ("train.csv", "test.csv", "misconception_mapping.csv"):
        touch(comp / name)
    touch(dataset("eedi-code") / "scripts/eedi/__init__.py")
    touch(dataset("eedi-plan") / "kernel.json", "{}")
    touch(dataset("eedi-minilm") / "all/retriever.json", "{}")
    touch(dataset("eedi-minilm-r2") / "all/retriever.json", "{}")
    touch(dataset("eedi-qwen32b") / "QuestionId-5-42/fold0/reranker.json", "{}")
    touch(dataset("eedi-qwen32b") / "all/reranker.json", "{}")
    touch(dataset("eedi-base") / "smollm2-135m-instruct/config.json", "{}")
    touch(model / "config.json", "{}")
    touch(dataset("eedi-wheels") / "peft-0.21.2-py3-none-any.whl")
    return {"comp": comp, "code": dataset("eedi-code"), "plan": dataset("eedi-plan"),
            "minilm": dataset("eedi-minilm") / "all", "r2": dataset("eedi-minilm-r2") / "all",
            "qwen32b": dataset("eedi-qwen32b") / "all", "model": model,
            "base": dataset("eedi-base") / "smollm2-135m-instruct",
            "wheels": dataset("eedi-wheels")}


@pytest.mark.parametrize("layout", ["old", "new"])
def test_every_input_is_found_in_both_layouts(tmp_path, layout):
    want = kaggle_tree(tmp_path, layout)
    assert find_competition(tmp_path, COMPETITION) == want["comp"]
    assert find_code(tmp_path) == want["code"]
    assert find_plan(tmp_path) == want["plan"]
    assert find_weights(tmp_path, "minilm") == want["minilm"]
    assert find_weights(tmp_path, "minilm.r2") == want["r2"]
    assert find_weights(tmp_path, "qwen32b") == want["qwen32b"]  # all/, not a fold's folder
    assert find_kaggle_model(tmp_path, QWEN) == want["model"]
    assert find_named_folder(tmp_path, "smollm2-135m-instruct") == want["base"]
    assert find_wheels(tmp_path, prefer="eedi-wheels") == want["wheels"]


def test_weights_of_another_dataset_are_not_taken(tmp_path):
    kaggle_tree(tmp_path, "new")
    with pytest.raises(MissingInput) as e:
        find_weights(tmp_path, "bge-large")
    message = str(e.value)
    assert "no weights of 'bge-large'" in message and "eedi-bge-large" in message
    assert str(tmp_path) in message


@pytest.mark.parametrize("finder, what", [
    (lambda root: find_competition(root), "no competition data found"),
    (lambda root: find_code(root), "no code dataset found"),
    (lambda root: find_plan(root), "no kernel plan found"),
    (lambda root: find_kaggle_model(root, QWEN), f"no Kaggle model {QWEN}"),
    (lambda root: find_named_folder(root, "smollm2-135m-instruct"), "no folder smollm2-135m-instruct/"),
])
def test_a_missing_input_names_what_and_where(tmp_path, finder, what):
    touch(tmp_path / "input" / "some-dataset" / "README.md")
    with pytest.raises(MissingInput) as e:
        finder(tmp_path / "input")
    assert what in str(e.value)
    assert str(tmp_path / "input") in str(e.value)
    assert "some-dataset" in str(e.value) or "models" in str(e.value)


def test_missing_root_is_said_to_be_missing(tmp_path):
    with pytest.raises(MissingInput, match="does not exist"):
        find_competition(tmp_path / "nowhere")


def test_no_wheels_is_not_an_error(tmp_path):
    kaggle_tree(tmp_path, "new")
    for wheel in tmp_path.rglob("*.whl"):
        wheel.unlink()
    assert find_wheels(tmp_path) is None


def test_kaggle_model_handle_must_have_five_parts(tmp_path):
    with pytest.raises(ValueError, match="owner/model/framework/variation/version"):
        find_kaggle_model(tmp_path, "qwen-lm/qwen2.5")


def test_weights_slug_is_push_weights_name():
    assert weights_slug("minilm") == "eedi-minilm"
    assert weights_slug("minilm.r2") == "eedi-minilm-r2"
    assert weights_slug("Qwen32B") == "eedi-qwen32b"


def test_roots_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_INPUT_ROOT", raising=False)
    monkeypatch.delenv("KAGGLE_WORKING_DIR", raising=False)
    assert input_root() == Path("/kaggle/input") and working_dir() == Path("/kaggle/working")
    monkeypatch.setenv("KAGGLE_INPUT_ROOT", str(tmp_path / "in"))
    monkeypatch.setenv("KAGGLE_WORKING_DIR", str(tmp_path / "out"))
    assert input_root() == tmp_path / "in" and working_dir() == tmp_path / "out"


@pytest.mark.parametrize("mount", [
    "models/qwen-lm/qwen2.5/Transformers/32b-instruct-awq/1",   # the framework capitalised
    "m/qwen-lm/qwen2.5/transformers/32b-instruct-awq/1",         # two models of one name
    "qwen2.5/Transformers/32b-instruct-awq/1",                   # the older layout
])
def test_a_kaggle_model_is_found_where_kaggle_mounts_it_in_any_framework_case(tmp_path, mount):
    touch(tmp_path / mount / "config.json")
    assert find_kaggle_model(tmp_path, QWEN) == tmp_path / mount


def test_a_kaggle_model_of_another_variation_is_not_taken(tmp_path):
    touch(tmp_path / "models/qwen-lm/qwen2.5/transformers/14b-instruct-awq/1/config.json")
    with pytest.raises(MissingInput, match="framework in any case"):
        find_kaggle_model(tmp_path, QWEN)
