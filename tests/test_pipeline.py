"""The Make chain end to end on small generated datasets: the user's interface
(`make submission evaluate DATA_DIR=<dir>`), incremental re-runs, DATA_DIR switches, config
changes, bad input and the run log. Runs Make as a user would, with this interpreter."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, generate, make, make_value, run_dir, sample_map_and_chance
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import read_ranking
from eedi.training_args import MALLOC_SETTINGS


def cv_hash(evaluate: str) -> str:
    """The Makefile's name for evaluate's files: a short hash of EVALUATE."""
    return hashlib.md5(evaluate.encode()).hexdigest()[:8]


def mtimes(folder: Path) -> dict:
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and p.name != "run_log.jsonl"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One full run of `make submission evaluate` on a generated dataset."""
    tmp = tmp_path_factory.mktemp("pipeline")
    data = generate(tmp / "data", seed=0)
    result = make(tmp, "submission", "evaluate", f"DATA_DIR={data}")
    assert result.returncode == 0, result.stderr
    return tmp, data, result


def test_submission_is_valid_and_better_than_chance(built):
    tmp, data, _ = built
    submission = pd.read_csv(tmp / "submission.csv")
    test_rows = wide_to_long(read_questions_csv(data / "test.csv", labelled=False))
    assert list(submission.columns) == ["QuestionId_Answer", "MisconceptionId"]
    assert sorted(submission["QuestionId_Answer"]) == sorted(test_rows["QuestionId_Answer"])
    lists = submission["MisconceptionId"].str.split().map(lambda ids: [int(i) for i in ids])
    assert lists.map(lambda ids: len(set(ids)) == 25).all()

    # the sample's test labels let us score it: TF-IDF must beat chance by far
    score, chance = sample_map_and_chance(submission, data)
    assert score > 3 * chance


def test_evaluate_prints_cv_table_and_logs_every_step(built):
    tmp, data, result = built
    assert "map@25" in result.stdout and "fold4" in result.stdout and "unseen" in result.stdout
    run = run_dir(tmp, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    assert 0 < cv["tfidf"]["all"]["map@25"] <= 1
    log = [json.loads(line) for line in (run / "run_log.jsonl").read_text().splitlines()]
    steps = {r["step"] for r in log}
    assert {"reshape", "folds", "retrieve_tfidf", "evaluate", "submission"} <= steps
    assert all(r["status"] == "ok" and r["seconds"] >= 0 for r in log)


def test_rerun_does_no_work_and_input_change_rebuilds(built):
    tmp, data, _ = built
    run = run_dir(tmp, data)
    before = mtimes(run)
    again = make(tmp, "submission", "evaluate", f"DATA_DIR={data}")
    assert again.returncode == 0
    assert "scripts/" not in again.stdout  # no step ran
    assert mtimes(run) == before

    # the same train.csv copied anew (a new mtime): its content decides (make/freshness.py),
    # so nothing runs, not even reshape, and no output changes
    contents = {p: p.read_bytes() for p in run.rglob("*.parquet")}
    (data / "train.csv").touch()
    same = make(tmp, "evaluate", f"DATA_DIR={data}")
    assert same.returncode == 0 and "scripts/" not in same.stdout, same.stdout
    assert {p: p.read_bytes() for p in run.rglob("*.parquet")} == contents

    # a changed train.csv is other data: a run folder of its own (keyed by content), made
    # from the start; the first one is left as it was, for a switch back
    original = (data / "train.csv").read_bytes()
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    train.loc[0, "ConstructName"] += " (edited)"
    train.to_csv(data / "train.csv", index=False)
    rebuilt = make(tmp, "evaluate", f"DATA_DIR={data}")
    assert rebuilt.returncode == 0
    assert run_dir(tmp, data) != run
    assert "scripts/reshape.py" in rebuilt.stdout and "scripts/retrieve_tfidf.py" in rebuilt.stdout
    assert {p: p.read_bytes() for p in run.rglob("*.parquet")} == contents
    (data / "train.csv").write_bytes(original)
    assert run_dir(tmp, data) == run
    assert "scripts/" not in make(tmp, "evaluate", f"DATA_DIR={data}").stdout


def test_config_change_rebuilds_only_what_it_affects(built):
    tmp, data, _ = built
    run = run_dir(tmp, data)
    assert make(tmp, "retrieve", f"DATA_DIR={data}", "TOP_K=30").returncode == 0
    ranking = pd.read_parquet(run / "rankings/train_tfidf.parquet")
    assert ranking.groupby("QuestionId_Answer").size().eq(30).all()
    before = mtimes(run)
    assert make(tmp, "retrieve", f"DATA_DIR={data}", "TOP_K=30").returncode == 0
    assert mtimes(run) == before  # same value: nothing rebuilt
    assert make(tmp, "retrieve", f"DATA_DIR={data}").returncode == 0  # back to the default


def test_switching_data_dir_never_reuses_outputs(built, tmp_path):
    tmp, data, _ = built
    assert make(tmp, "submission", f"DATA_DIR={data}").returncode == 0  # up to date first
    first_run = mtimes(run_dir(tmp, data))
    other = generate(tmp_path / "other", seed=1, n_test=7)
    result = make(tmp, "submission", f"DATA_DIR={other}")
    assert result.returncode == 0, result.stderr
    assert run_dir(tmp, other) != run_dir(tmp, data)
    submission = pd.read_csv(tmp / "submission.csv")
    assert len(submission) == 7 * 3  # the other dataset's test, not the first one's 10 * 3
    # and back: the first dataset's finished outputs are reused, its submission restored
    back = make(tmp, "submission", f"DATA_DIR={data}")
    assert "scripts/" not in back.stdout
    assert mtimes(run_dir(tmp, data)) == first_run
    assert len(pd.read_csv(tmp / "submission.csv")) == 10 * 3


def test_bad_input_stops_make_with_the_error_and_no_target(tmp_path):
    data = generate(tmp_path / "data", seed=2)
    wide = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    wide.loc[5, "CorrectAnswer"] = "X"
    wide.to_csv(data / "train.csv", index=False)
    result = make(tmp_path, "submission", f"DATA_DIR={data}")
    assert result.returncode != 0
    assert "train.csv, column CorrectAnswer, row 6: 'X' is not one of A, B, C, D" in result.stderr
    run = run_dir(tmp_path, data)
    assert not (run / "train_long.parquet").exists()
    assert not (tmp_path / "submission.csv").exists()


def test_missing_data_dir_says_where_data_should_be(tmp_path):
    result = make(tmp_path, "reshape", f"DATA_DIR={tmp_path / 'nowhere'}")
    assert result.returncode != 0
    assert "nowhere/train.csv not found" in result.stderr and "make download" in result.stderr


def test_finetune_chain_beats_zero_shot_out_of_fold(tmp_path):
    """make evaluate with the embedding retrievers: zero-shot MiniLM ranks train, one MiniLM
    per fold is fine-tuned on the other fold with mined hard negatives, ranks its held-out fold,
    and that out-of-fold ranking beats zero-shot. Then the all-train model ranks test."""
    data = generate(tmp_path / "data", seed=3, n_train=120, n_test=5)
    settings = [f"DATA_DIR={data}", "MODEL=minilm", "TRAIN_ARGS=--epochs 1 --batch-size 16 --lr 1e-4"]
    model = make_value(tmp_path, "EMBEDDER_ID", *settings)  # not the defaults: minilm~<key>
    assert model.startswith("minilm~")
    ft = f"{model}-ft"
    args = [*settings, "N_FOLDS=2", f"EVALUATE=minilm-zs {ft}"]
    result = make(tmp_path, "evaluate", "submission", *args, retriever=ft)
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dir(tmp_path, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    zero_shot, fine_tuned = cv["minilm-zs"]["all"]["map@25"], cv[ft]["all"]["map@25"]
    assert fine_tuned > zero_shot + 0.05, (zero_shot, fine_tuned)
    assert cv[ft]["all"]["train_s"] > 0 and "train_s" in cv[ft]["fold1"]

    models = tmp_path / "models" / run.name / model
    assert sorted(p.name for p in (models / "QuestionId-2-42").iterdir()) == ["fold0", "fold1"]
    stats = json.loads((models / "all" / "train.json").read_text())
    # the Makefile's allocator settings reach the training process (keeping freed activations
    # instead of page-faulting them back in each step: docs/results.md, "CPU speed")
    assert all(stats["malloc"][name] for name in MALLOC_SETTINGS), stats["malloc"]
    assert not list(models.rglob("*.checkpoints"))
    assert len(pd.read_csv(tmp_path / "submission.csv")) == 5 * 3

    # code dependencies (derived from the imports, make/code_deps.py): the dtype rule reaches
    # the trainer through embedding.py, so a change to it retrains fold 0; the cascade module and
    # registry.py are no code of the trainer's, so a change to either retrains nothing. (-W: Make
    # runs as if the file had just changed, without touching the checkout.)
    def steps_run(changed):
        out = make(tmp_path, "-W", changed, "train-retriever", "FOLD=0", *args, retriever=ft)
        assert out.returncode == 0, out.stderr[-3000:]
        return [line for line in out.stdout.replace("\\\n", " ").splitlines()
                if "scripts/" in line and not line.startswith("test -f")]  # (reshape's no-op)
    for changed in ("scripts/eedi/ensemble/cascade.py", "scripts/eedi/registry.py"):
        assert steps_run(changed) == []
    retrained = steps_run("scripts/eedi/precision.py")
    assert any("scripts/train_retriever.py" in s and "--fold 0" in s for s in retrained)
    assert not any("--fold 1" in s for s in retrained)


def test_rerank_chain_trains_per_fold_adapters_and_shards_across_gpus(tmp_path, tiny_llama_dir):
    """make evaluate submission with a (tiny random) LLM reranker over TF-IDF: one adapter per
    fold reranks its held-out fold, the CV table has the ranking before and after reranking,
    the all-train adapter reranks test; GPUS=2 splits test into two shards that merge to the
    same ranking."""
    data = generate(tmp_path / "data", seed=4, n_train=24, n_test=4)
    args = [f"DATA_DIR={data}", "N_FOLDS=2", f"RERANKER={tiny_llama_dir}", "TOP_N=3",
            "TRAIN_RERANKER_ARGS=--max-steps 2 --batch-size 2 --grad-accum 1 --n-negatives 2"]
    reranked = make_value(tmp_path, "RERANKED", *args)
    adapter = reranked.partition(".rr3-")[2]   # its settings (tfidf's negatives, few steps) keyed
    assert reranked == f"tfidf.rr3-{adapter}" and adapter.startswith(f"{tiny_llama_dir.name}~")
    args += [f"EVALUATE=tfidf {reranked}", f"FINAL={reranked}"]
    result = make(tmp_path, "evaluate", "submission", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"reranker: {tiny_llama_dir}" in result.stdout
    run = run_dir(tmp_path, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    assert set(cv) >= {"tfidf", reranked} and cv[reranked]["all"]["train_s"] > 0
    assert cv[reranked]["all"]["rows"] == cv["tfidf"]["all"]["rows"]
    adapters = tmp_path / "models" / run.name / adapter
    assert sorted(p.name for p in (adapters / "QuestionId-2-42").iterdir()) == ["fold0", "fold1"]
    assert (adapters / "all" / "adapter_model.safetensors").is_file()

    test_ranking = run / "rankings" / f"test_{reranked}.parquet"
    whole = read_ranking(test_ranking)
    tfidf = read_ranking(run / "rankings" / "test_tfidf.parquet")
    assert len(whole) == len(tfidf)
    top3 = lambda r: r[r["rank"] <= 3].sort_values(["QuestionId_Answer", "MisconceptionId"])
    assert top3(whole)["MisconceptionId"].tolist() == top3(tfidf)["MisconceptionId"].tolist()
    assert not np.allclose(whole["score"], tfidf.sort_values(["QuestionId_Answer", "rank"])["score"])
    submission = pd.read_csv(tmp_path / "submission.csv")
    assert len(submission) == 4 * 3

    # GPUS=2: a copy of the model per GPU (the registry's tensor parallel size for an unknown
    # model is 1), each on half the rows; TENSOR_PARALLEL=2: one copy over both GPUs. The
    # run log records which GPUs each copy was given.
    for extra, copies, gpus in ((), 2, ["0", "1"]), (("TENSOR_PARALLEL=2",), 1, ["0,1"]):
        test_ranking.unlink()
        log = run / "run_log.jsonl"
        log.unlink()
        result = make(tmp_path, "rerank", "GPUS=2", *extra, *args)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "scripts/rerank.py" in result.stdout and "--gpus 2" in result.stdout
        assert result.stderr.count(" rerank ok") == copies and "rerank_on_gpus ok" in result.stderr
        steps = [json.loads(line) for line in log.read_text().splitlines()]
        assert sorted(s["gpus"] for s in steps if s["step"] == "rerank") == gpus
        pd.testing.assert_frame_equal(read_ranking(test_ranking), whole, atol=1e-4)
        assert not list(test_ranking.parent.glob("*.shard*"))
    test_ranking.unlink()
    result = make(tmp_path, "rerank", "GPUS=3", "TENSOR_PARALLEL=2", *args)
    assert result.returncode != 0 and "not a multiple" in result.stderr

    result = make(tmp_path, "push-weights", "DRY_RUN=1", "DATASET=someone/eedi-tiny-reranker",
                  *args)  # MODEL_DIR: RERANKER's folder
    assert result.returncode == 0, result.stderr[-3000:]
    assert "datasets create -p" in result.stdout and "--dir-mode zip" in result.stdout
    for part in ("QuestionId-2-42/fold0/adapter_model.safetensors", "all/adapter_model.safetensors",
                 "dataset-metadata.json", f"cv-QuestionId-2-42-{cv_hash(f'tfidf {reranked}')}.json"):
        assert part in result.stdout
    assert not (adapters / "pushed.json").exists()


def test_fusion_chain_fuses_boosts_reports_and_submits_the_final_stage(tmp_path):
    """The default FINAL: FUSE's rankings fused with weights tuned out-of-fold, then the unseen
    boost; make evaluate shows single, fused and fused + boost side by side, the submission is
    made from the boosted fusion, and make cascade and make report build from the same runs.
    (Zero-shot MiniLM + TF-IDF: no training, so it stays quick.)"""
    data = generate(tmp_path / "data", seed=5, n_train=60, n_test=6)
    fused = "fuse-tfidf+minilm-zs"
    args = [f"DATA_DIR={data}", "N_FOLDS=3", "FUSE=tfidf minilm-zs", "CASCADE=tfidf minilm-zs",
            f"EVALUATE=tfidf minilm-zs {fused} {fused}.boost", f"FINAL={fused}.boost",
            "CASCADE_ARGS=--top-n 5,25 --delta none,0.05"]
    result = make(tmp_path, "evaluate", "submission", "cascade", "report", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"from {fused}.boost" in result.stdout
    run = run_dir(tmp_path, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    assert set(cv) == {"tfidf", "minilm-zs", fused, f"{fused}.boost"}
    assert all(cv[r]["all"]["rows"] == cv["tfidf"]["all"]["rows"] for r in cv)
    weights = json.loads((run / f"fusion-{fused}.json").read_text())
    assert weights["members"] == ["tfidf", "minilm-zs"] and set(weights["per_fold"]) == {"0", "1", "2"}
    assert abs(sum(weights["weights"].values()) - 1) < 1e-3
    boost = json.loads((run / f"boost-{fused}.json").read_text())
    assert boost["c"] >= 1 and set(boost["per_fold"]) == {"0", "1", "2"}
    for side in ("train", "test"):
        ranking = read_ranking(run / "rankings" / f"{side}_{fused}.boost.parquet")
        assert ranking.groupby("QuestionId_Answer")["rank"].max().min() >= 25
    submission = pd.read_csv(tmp_path / "submission.csv")
    assert len(submission) == 6 * 3
    test_top = read_ranking(run / "rankings" / f"test_{fused}.boost.parquet")
    first = test_top[test_top["rank"] <= 25].groupby("QuestionId_Answer")["MisconceptionId"].agg(
        lambda ids: " ".join(map(str, ids)))
    assert dict(zip(submission["QuestionId_Answer"], submission["MisconceptionId"])) == first.to_dict()
    assert "cascade: minilm-zs reorders tfidf's cut" in result.stdout
    page = (run / "report" / "index.html").read_text()
    assert page.count("<img") >= 5 and fused in page and "Cascade" in page
    assert all((run / "report" / f"{n}.png").stat().st_size > 5000
               for n in ("map_per_fold", "seen_unseen", "recall_curves", "fusion_weights", "cascade"))


def test_round2_mining_never_sees_the_held_out_folds_labels(tmp_path):
    """make's round 2 (minilm-ft2): fold k's negatives are mined by fold k's round-1 model on
    its own training rows. Relabelling fold 0's rows must leave everything fold 0's round-2
    model trains on unchanged (its mined ranking), while fold 1's (whose round-1 model trained
    on fold 0's rows) changes. The chain ends in an out-of-fold minilm-ft2 CV."""
    data = generate(tmp_path / "data", seed=6, n_train=60, n_test=3)
    settings = [f"DATA_DIR={data}", "MODEL=minilm", "TRAIN_ARGS=--epochs 1 --batch-size 16 --lr 1e-4"]
    model = make_value(tmp_path, "EMBEDDER_ID", *settings)  # minilm~<key>
    args = [*settings, "N_FOLDS=2", f"EVALUATE={model}-ft {model}-ft2"]
    result = make(tmp_path, "evaluate", *args, retriever=f"{model}-ft")
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dir(tmp_path, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    assert cv[f"{model}-ft2"]["all"]["rows"] == cv[f"{model}-ft"]["all"]["rows"]
    assert cv[f"{model}-ft2"]["all"]["train_s"] > 0  # its fold models (minilm~<key>.r2) were found
    folds = pd.read_parquet(next(run.glob("folds-*.parquet")))
    mined = {k: read_ranking(run / "mined" / f"{model}-fold{k}.parquet") for k in (0, 1)}
    for k in (0, 1):  # each fold model ranks its own training rows: the other fold's
        assert set(mined[k]["QuestionId_Answer"]) == set(folds.loc[folds["fold"] != k, "QuestionId_Answer"])

    # relabel every labelled answer of fold 0's questions (a valid other id), then rebuild
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    ids = pd.read_csv(data / "misconception_mapping.csv")["MisconceptionId"].astype(int).tolist()
    fold0 = set(folds.loc[folds["fold"] == 0, "QuestionId"].astype(int))
    for x in "ABCD":
        col = f"Misconception{x}Id"
        mask = train["QuestionId"].astype(int).isin(fold0) & (train[col] != "")
        train.loc[mask, col] = [str(ids[(ids.index(int(v)) + 1) % len(ids)]) for v in train.loc[mask, col]]
    train.to_csv(data / "train.csv", index=False)
    relabelled = run_dir(tmp_path, data)  # other data: a run folder of its own (content key)
    assert relabelled != run
    targets = [str(relabelled / "mined" / f"{model}-fold{k}.parquet") for k in (0, 1)]
    result = make(tmp_path, *targets, *args, retriever=f"{model}-ft")
    assert result.returncode == 0, result.stderr[-3000:]
    again = {k: read_ranking(relabelled / "mined" / f"{model}-fold{k}.parquet") for k in (0, 1)}
    pd.testing.assert_frame_equal(again[0], mined[0])       # fold 0's round 2: untouched
    assert not again[1]["score"].equals(mined[1]["score"])  # fold 1's: its model saw fold 0


def test_training_rules_depend_on_their_registry_entry_not_on_registry_py(tmp_path):
    """Adding or editing one model in registry.py must not retrain the others (an overnight CV
    lost to a new qwen entry): every model rule depends on a stamp of its own entry
    ($(RUN)/spec/<kind>-<name>.json), rewritten only when that entry's training fields change.
    Make writes the registry's stamps while it parses (make/freshness.py sync), so no recipe
    runs for them and `make -n` lists none."""
    data = generate(tmp_path / "data", seed=3, n_train=20, n_test=3)
    run = run_dir(tmp_path, data)
    stamp = run / "spec" / "retriever-minilm.json"
    shown = subprocess.run([sys.executable, str(REPO / "scripts/show_spec.py"), "--kind", "retriever",
                            "--model", "minilm", "--stamp"], capture_output=True, text=True, check=True)
    assert stamp.read_text() == shown.stdout and json.loads(shown.stdout)["epochs"] == 2
    made = stamp.stat().st_mtime_ns

    dry = make(tmp_path, "-n", str(stamp), f"DATA_DIR={data}")
    assert dry.returncode == 0 and "show_spec.py" not in dry.stdout  # entry unchanged
    assert stamp.stat().st_mtime_ns == made
    # the entry differs from the one the stamp recorded (as after an edit): rewritten, newer
    stamp.write_text(shown.stdout.replace('"epochs": 2', '"epochs": 3'))
    os.utime(stamp, ns=(1_000_000_000, 1_000_000_000))
    assert make(tmp_path, "-s", "print-RUN", f"DATA_DIR={data}").returncode == 0
    assert stamp.read_text() == shown.stdout and stamp.stat().st_mtime_ns > 1_000_000_000

    # what Make's database says: no model rule names registry.py; each names its stamp
    database = make(tmp_path, "-pn", "print-RUN", f"DATA_DIR={data}", "RERANKER=smollm135m").stdout
    rules = [line for line in database.splitlines()  # rules, not the files make looked at
             if line.split(":")[0].endswith("/fold0/train.json") and line.split(":", 1)[1].strip()]
    from eedi.registry import RETRIEVERS
    # round 1 for any name (a pattern) and for each registry embedder (explicit rules), round 2,
    # the reranker's fold 0 and its quantised copy
    assert len(rules) == 4 + len(RETRIEVERS), rules
    for rule in rules:
        model = rule.split(":")[0].split("/")[-4]  # models/<data>/<model>/<cv>/fold0/train.json
        assert "registry.py" not in rule
        # (a pattern rule names its stamp by second expansion: the stem without its settings key)
        assert (f"/spec/retriever-{model}.json" in rule or "$(call spec,retriever,$(call base_of,$*))" in rule
                or "/spec/reranker-smollm135m.json" in rule), rule


def test_quantised_fold_models_are_scored_out_of_fold_beside_the_adapters(tmp_path_factory, tmp_path):
    """EVALUATE=... RERANKED.w4a16: each fold's adapter merged and GPTQ-quantised (calibrated
    outside its fold) reranks its own fold, so the CV table shows the model Kaggle serves next
    to the adapters it came from; the all-train quantised model reranks test."""
    from conftest import random_llama
    base = random_llama(tmp_path_factory.mktemp("wide_llama"), hidden=128, intermediate=256)
    data = generate(tmp_path / "data", seed=4, n_train=24, n_test=4)
    args = [f"DATA_DIR={data}", "N_FOLDS=2", f"RERANKER={base}", "TOP_N=3",
            "TRAIN_RERANKER_ARGS=--max-steps 2 --batch-size 2 --grad-accum 1 --n-negatives 2",
            "QUANTIZE_ARGS=--n-calibration 16"]
    reranked = make_value(tmp_path, "RERANKED", *args)
    adapter = reranked.partition(".rr3-")[2]   # <base>~<key>
    args += [f"EVALUATE=tfidf {reranked} {reranked}.w4a16", f"FINAL={reranked}.w4a16"]
    result = make(tmp_path, "evaluate", "submission", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dir(tmp_path, data)
    cv = json.loads(next(run.glob("cv-*.json")).read_text())
    assert cv[f"{reranked}.w4a16"]["all"]["rows"] == cv[reranked]["all"]["rows"]
    # its cost: the adapters' training + merge + GPTQ
    assert cv[f"{reranked}.w4a16"]["all"]["train_s"] > cv[reranked]["all"]["train_s"] > 0
    models = tmp_path / "models" / run.name
    for k in (0, 1):
        stats = json.loads((models / f"{adapter}.w4a16" / "QuestionId-2-42" / f"fold{k}" /
                            "train.json").read_text())
        assert stats["scheme"] == "W4A16"
        assert stats["source"] == str(models / adapter / "QuestionId-2-42" / f"fold{k}")
    # the quantised scores follow the adapters' (4-bit rounding, not another model)
    full = read_ranking(run / "rankings" / f"train_{reranked}.parquet")
    quantised = read_ranking(run / "rankings" / f"train_{reranked}.w4a16.parquet")
    both = full.merge(quantised, on=["QuestionId_Answer", "MisconceptionId"])
    top = both[both["rank_x"] <= 3]
    assert np.corrcoef(top["score_x"], top["score_y"])[0, 1] > 0.9
    assert len(pd.read_csv(tmp_path / "submission.csv")) == 4 * 3
