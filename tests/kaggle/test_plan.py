"""eedi.kaggle.plan: FINAL's name -> the steps, and each step's commands equal the Makefile's
test-side rules (checked against `make -n` itself, so the two cannot drift apart)."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from eedi.kaggle.plan import (Paths, build_plan, is_folder_of, plan_steps, read_plan, reshape_command,
                              stage_commands, steps_of, submission_command, with_base_model)

FINAL = "fuse-tfidf+minilm-ft+minilm-ft.rr-smollm135m.boost"


def test_steps_follow_the_makefile_names_each_once_after_its_inputs():
    steps = plan_steps(FINAL)
    assert [(s.ranking, s.kind) for s in steps] == [
        ("tfidf", "tfidf"), ("minilm-ft", "embed"), ("minilm-ft.rr-smollm135m", "rerank"),
        ("fuse-tfidf+minilm-ft+minilm-ft.rr-smollm135m", "fuse"), (FINAL, "boost")]
    embed, rerank, fuse, boost = steps[1:]
    assert (embed.model, embed.weights_dataset) == ("minilm", "eedi-minilm")
    assert (rerank.model, rerank.weights_dataset, rerank.inputs) == ("smollm135m", "eedi-smollm135m", ["minilm-ft"])
    assert fuse.json == "fusion-fuse-tfidf+minilm-ft+minilm-ft.rr-smollm135m.json"
    assert boost.json == "boost-fuse-tfidf+minilm-ft+minilm-ft.rr-smollm135m.json"
    r2, zs = plan_steps("minilm-ft2")[0], plan_steps("minilm-zs")[0]
    assert (r2.model, r2.weights_dataset) == ("minilm.r2", "eedi-minilm-r2")
    assert (zs.model, zs.weights_dataset) == ("minilm", None)  # zero-shot: the model as it is


def test_an_unknown_ranking_name_is_refused():
    with pytest.raises(ValueError, match="'bm25': not tfidf"):
        plan_steps("fuse-tfidf+bm25")


def test_plan_round_trips_and_falls_back_from_later_to_earlier(tmp_path):
    import json
    plan = build_plan(FINAL, None, 5, "hf", 2, None, 3600, {})
    (tmp_path / "kernel.json").write_text(json.dumps(plan))
    again = read_plan(tmp_path / "kernel.json")
    assert [s.ranking for s in steps_of(again)] == [s.ranking for s in plan_steps(FINAL)]
    assert again["fallback"][0] == FINAL and again["fallback"][-1] == "tfidf"
    (tmp_path / "kernel.json").write_text(json.dumps({**plan, "format": 99}))
    with pytest.raises(ValueError, match="plan format 99"):
        read_plan(tmp_path / "kernel.json")


def normalised(argv: list[str]) -> list[str]:
    """A command without its interpreter, the script by name only."""
    script = next(i for i, a in enumerate(argv) if a.endswith(".py"))
    return [Path(argv[script]).name, *argv[script + 1:]]


@pytest.mark.parametrize("gpus", [1, 2])
def test_commands_equal_make_dry_run_test_side(tmp_path, kaggle_dir, gpus):
    runs, models = tmp_path / "runs", tmp_path / "models"
    final = FINAL.replace(".rr-", ".rr5-")  # TOP_N=5 is in the reranked ranking's name
    settings = [f"DATA_DIR={kaggle_dir}", "RERANKER=smollm135m", "RETRIEVED=minilm-ft",
                "FUSE=tfidf minilm-ft minilm-ft.rr5-smollm135m", f"FINAL={final}", "TOP_K=50",
                "TOP_N=5", f"GPUS={gpus}", "ENGINE=hf"]
    common = [f"RUNS_ROOT={runs}", f"MODELS_ROOT={models}", f"PY={sys.executable}", "SETUP="]
    run = Path(subprocess.run(["make", "-s", "-C", str(REPO), "print-RUN", *settings, *common],
                              capture_output=True, text=True, check=True).stdout.strip())
    model_dir = models / run.name
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "submission", *settings, *common],
                         capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    make_commands = []
    for line in dry.stdout.replace("\\\n", " ").splitlines():
        # (not a step's manifest, make/freshness.py record: it names the scripts among its inputs)
        words = (shlex.split(line) if "scripts/" in line and ";" not in line and "||" not in line
                 and "make/freshness.py" not in line else [])
        out = Path(words[words.index("--out") + 1]).name if "--out" in words else ""
        if words and (out.startswith(("test_", "submission_")) or "scripts/reshape.py" in words):
            make_commands.append(normalised(words))

    plan = build_plan(final, 50, 5, "hf", gpus, None, 3600, {})
    paths = Paths(code=REPO, data=kaggle_dir, plan=run, run=run,
                  models={"eedi-minilm": model_dir / "minilm" / "all",
                          "eedi-smollm135m": model_dir / "smollm135m" / "all"})
    ours = [normalised(reshape_command(paths))]
    for step in steps_of(plan):
        for group in stage_commands(step, plan, paths):
            ours += [normalised(argv) for argv, _ in group]
    ours.append(normalised(submission_command(paths, final, run / f"submission_{final}.csv")))
    assert sorted(map(tuple, ours)) == sorted(map(tuple, make_commands))


def test_gpus_go_to_rerank_py_which_starts_the_copies_itself(tmp_path):
    """One command per stage, as in the Makefile: rerank.py --gpus N starts its GPUS / TP
    copies on their GPU groups and merges them (eedi.sharding), so the plan has no loop."""
    plan = build_plan("tfidf.rr-smollm135m", None, None, "vllm", 2, None, 3600, {})
    paths = Paths(code=REPO, data=tmp_path, plan=tmp_path, run=tmp_path,
                  models={"eedi-smollm135m": tmp_path / "adapter"})
    [[(argv, env)]] = stage_commands(steps_of(plan)[1], plan, paths)
    assert env == {} and argv[argv.index("--gpus") + 1] == "2" and "--shard" not in argv
    assert argv[argv.index("--engine") + 1] == "vllm" and "--tensor-parallel" not in argv
    # a model spanning both GPUs (qwen32b on 2x T4): the tensor parallel size goes along
    plan = build_plan("tfidf.rr-smollm135m", None, None, "vllm", 2, None, 3600, {}, "t4", 2)
    [[(argv, env)]] = stage_commands(steps_of(plan)[1], plan, paths)
    assert argv[argv.index("--tensor-parallel") + 1] == "2"
    assert argv[argv.index("--vllm-profile") + 1] == "t4"


def test_with_base_model_points_the_adapter_at_another_base(tmp_path):
    import json
    adapter = tmp_path / "ro" / "all"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "reranker.json").write_text(json.dumps({"model": "Qwen/Qwen2.5-32B-Instruct",
                                                       "adapter": "./", "top_n": 5}))
    base = tmp_path / "kaggle-model"
    base.mkdir()
    out = with_base_model(adapter, base, tmp_path / "work" / "eedi-qwen32b")
    spec = json.loads((out / "reranker.json").read_text())
    assert spec == {"model": str(base.resolve()), "adapter": "./", "top_n": 5}
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights"
    assert json.loads((adapter / "reranker.json").read_text())["model"] == "Qwen/Qwen2.5-32B-Instruct"
    from eedi.rerank.reranker import reranker_spec
    loaded = reranker_spec(str(out))
    assert loaded.model == str(base.resolve()) and Path(loaded.adapter) == out


def test_with_vllm_only_the_rerank_stage_sees_the_vllm_folder(tmp_path, monkeypatch):
    """vLLM is installed apart from the image (pip --target): the rerank command alone gets it
    first on its PYTHONPATH; no other stage, and no stage under ENGINE=hf."""
    monkeypatch.setenv("PYTHONPATH", "/already/there")
    paths = Paths(code=tmp_path, data=tmp_path, plan=tmp_path, run=tmp_path,
                  models={"eedi-smollm135m": tmp_path / "m", "eedi-minilm": tmp_path / "e"}, vllm_site=tmp_path / "vllm-site")
    for engine, expected in (("vllm", f"{tmp_path / 'vllm-site'}:/already/there"), ("hf", None)):
        plan = build_plan(FINAL, None, 5, engine, 2, None, 3600, {})
        for step in plan_steps(FINAL):
            if step.kind in ("fuse", "boost"):
                continue
            [[(argv, env)]] = stage_commands(step, plan, paths)
            want = expected if step.kind == "rerank" else None
            assert env.get("PYTHONPATH") == want, (engine, step.kind)


def test_names_with_settings_keys_plan_the_same_steps():
    """Names made with other settings than the defaults (the Makefile's settings keys) parse to
    the same steps: a keyed model folder, TOP_N from .rr<N>-, fuse~<key>-, .boost~<key> with
    its own JSON."""
    final = "fuse~b30cb1-tfidf+minilm~3d8f09-ft+minilm~3d8f09-ft.rr5-smollm135m~384293.boost~b683e9"
    steps = {s.kind: s for s in plan_steps(final)}
    assert steps["embed"].model == "minilm~3d8f09" and steps["embed"].weights_dataset == "eedi-minilm-3d8f09"
    assert steps["rerank"].model == "smollm135m~384293" and steps["rerank"].top_n == 5
    assert steps["rerank"].inputs == ["minilm~3d8f09-ft"]
    assert steps["fuse"].inputs == ["tfidf", "minilm~3d8f09-ft", "minilm~3d8f09-ft.rr5-smollm135m~384293"]
    fused = final[: -len(".boost~b683e9")]
    assert steps["fuse"].json == f"fusion-{fused}.json"
    assert steps["boost"].json == f"boost-{fused}~b683e9.json" and steps["boost"].inputs == [fused]
    assert is_folder_of("smollm135m~384293.w4a16", "smollm135m")
    assert is_folder_of("Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-32B-Instruct")
    assert not is_folder_of("smollm135m2", "smollm135m")
