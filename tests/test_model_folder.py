"""eedi.model_folder: `load_spec` reads spec files written before the trainers shared one
vocabulary ("hard_negatives" / "negatives" -> n_negatives); `save_model_folder` makes the folder
appear whole (weights, spec, train.json) and then deletes OUT.checkpoints, while a save that
fails leaves neither a folder nor a temp folder (and keeps the checkpoints to resume from)."""

import json
from pathlib import Path

import pytest

from eedi.model_folder import checkpoints_of
from eedi.registry import load_spec
from eedi.model_folder import save_model_folder
from eedi.registry import Reranker
from eedi.registry import Retriever


@pytest.mark.parametrize("kind, old_key", [(Retriever, "hard_negatives"), (Reranker, "negatives")])
def test_load_spec_reads_an_old_spec_file_as_n_negatives(tmp_path, kind, old_key):
    (tmp_path / kind.SPEC_FILE).write_text(json.dumps({"model": "./", old_key: 5, "lr": 0.001}))
    spec = load_spec(kind, str(tmp_path))
    assert spec == kind(model=str(tmp_path), n_negatives=5, lr=0.001)
    assert spec.n_negatives != kind(model="x").n_negatives  # 5 is not the default


def test_save_model_folder_appears_whole_and_deletes_the_checkpoints(tmp_path):
    out = tmp_path / "models" / "fold0"
    checkpoint = checkpoints_of(out) / "checkpoint-2" / "optimizer.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text("opt")
    spec = Retriever(model="./", epochs=3)

    def save_weights(folder):
        assert Path(folder).parent == out.parent and not out.exists()  # written beside, then renamed
        Path(folder, "model.safetensors").write_text("weights")

    save_model_folder(out, save_weights, spec, {"steps": 2})
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "retriever.json", "train.json"]
    assert (out / "model.safetensors").read_text() == "weights"
    assert json.loads((out / "train.json").read_text()) == {"steps": 2}
    assert load_spec(Retriever, str(out)) == spec.replace(model=str(out))
    assert sorted(p.name for p in out.parent.iterdir()) == ["fold0"]  # no checkpoints, no temp


def test_a_failed_save_leaves_no_folder_and_no_temp_folder(tmp_path):
    out = tmp_path / "models" / "fold0"
    (checkpoints_of(out) / "checkpoint-2").mkdir(parents=True)

    def save_weights(folder):
        Path(folder, "model.safetensors").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_model_folder(out, save_weights, Retriever(model="./"), {"steps": 2})
    assert sorted(p.name for p in out.parent.iterdir()) == ["fold0.checkpoints"]  # a re-run resumes
