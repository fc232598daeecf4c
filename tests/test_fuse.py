"""scripts/fuse.py and scripts/boost_unseen.py as commands: bad usage is one clear error and
writes nothing; tune then apply round-trips the weights and the constant. (The Make chain
around them is in test_pipeline.py.)"""

import json

import numpy as np
import pandas as pd
import pytest

import boost_unseen
import fuse
from eedi.files import write_parquet
from eedi.ranking import read_ranking, write_ranking


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{q}_A" for q in range(40)]
    gold = rng.integers(0, 30, len(rows))
    train = pd.DataFrame({"QuestionId_Answer": rows, "QuestionId": range(40),
                          "MisconceptionId": pd.array(gold, dtype="Int64")})
    train.loc[3, "MisconceptionId"] = pd.NA  # an unlabelled row is fused and boosted too
    write_parquet(train, tmp_path / "train.parquet")
    write_parquet(pd.DataFrame({"QuestionId_Answer": rows, "QuestionId": range(40),
                                "fold": np.arange(40) % 4}), tmp_path / "folds.parquet")
    for name, skill in (("good", 3.0), ("weak", 0.3)):
        entries = []
        for qa, g in zip(rows, gold):
            s = rng.normal(size=30)
            s[g] += skill
            for i, m in enumerate(np.argsort(-s)[:25]):
                entries.append({"QuestionId_Answer": qa, "MisconceptionId": int(m),
                                "score": float(np.sort(-s)[i] * -1), "rank": i + 1})
        write_ranking(pd.DataFrame(entries), tmp_path / f"{name}.parquet")
    write_parquet(pd.DataFrame({"MisconceptionId": range(30), "MisconceptionName": [f"m{i}" for i in range(30)],
                                "seen_in_train": [i % 2 == 0 for i in range(30)]}), tmp_path / "mis.parquet")
    return tmp_path


def members(d):
    return ["--member", f"good={d / 'good.parquet'}", "--member", f"weak={d / 'weak.parquet'}"]


def test_tune_then_apply_fuses_with_the_saved_weights(data, run_cli):
    result = run_cli(fuse.main, [*members(data), "--train", data / "train.parquet", "--folds",
                                 data / "folds.parquet", "--out-weights", data / "w.json",
                                 "--top-k", 30, "--out", data / "oof.parquet"])
    assert result.exit_code == 0, result.output
    saved = json.loads((data / "w.json").read_text())
    assert saved["members"] == ["good", "weak"] and set(saved["per_fold"]) == {"0", "1", "2", "3"}
    assert saved["weights"]["good"] > saved["weights"]["weak"]
    oof = read_ranking(data / "oof.parquet")
    assert oof["QuestionId_Answer"].nunique() == 40
    applied = run_cli(fuse.main, [*members(data), "--weights", data / "w.json", "--top-k", 30,
                                  "--out", data / "test.parquet"])
    assert applied.exit_code == 0, applied.output
    assert read_ranking(data / "test.parquet")["QuestionId_Answer"].nunique() == 40


def test_fuse_usage_errors_write_nothing(data, run_cli):
    one = run_cli(fuse.main, ["--member", f"good={data / 'good.parquet'}", "--weights", data / "x.json",
                              "--out", data / "o.parquet"])
    assert one.exit_code == 2 and "at least two" in one.output
    no_train = run_cli(fuse.main, [*members(data), "--out", data / "o.parquet"])
    assert no_train.exit_code == 2 and "--train" in no_train.output
    (data / "w.json").write_text(json.dumps({"method": "rrf", "k": 60, "norm": "minmax",
                                             "weights": {"weak": 0.5, "good": 0.5}}))
    wrong = run_cli(fuse.main, [*members(data), "--weights", data / "w.json", "--out", data / "o.parquet"])
    assert wrong.exit_code == 1 and "tuned for ['weak', 'good']" in wrong.output
    assert not (data / "o.parquet").exists()


def tune_boost(data, run_cli, *extra) -> dict:
    """boost_unseen.py tuned on the folds (the weak ranking): its JSON."""
    result = run_cli(boost_unseen.main, ["--ranking", data / "weak.parquet", "--train", data / "train.parquet",
                                         "--folds", data / "folds.parquet", *extra,
                                         "--out-json", data / "c.json", "--out", data / "b.parquet"])
    assert result.exit_code == 0, result.output
    return json.loads((data / "c.json").read_text())


def apply_boost(data, run_cli, saved: dict):
    """boost_unseen.py applied with `saved` as its JSON at a huge C (unseen ids first): the
    rank-1 misconception of every row."""
    (data / "c.json").write_text(json.dumps({**saved, "c": 1e6}))
    applied = run_cli(boost_unseen.main, ["--ranking", data / "weak.parquet", "--misconceptions",
                                          data / "mis.parquet", "--constant-from", data / "c.json",
                                          "--out", data / "t.parquet"])
    assert applied.exit_code == 0, applied.output
    out = read_ranking(data / "t.parquet")
    return out[out["rank"] == 1]["MisconceptionId"]


def test_boost_tune_then_apply(data, run_cli):
    saved = tune_boost(data, run_cli)
    assert saved["c"] >= 1 and set(saved["per_fold"]) == {"0", "1", "2", "3"} and saved["objective"] == "map"
    assert read_ranking(data / "b.parquet")["QuestionId_Answer"].nunique() == 40
    assert (apply_boost(data, run_cli, {}) % 2 == 1).all()   # the unseen (odd) ids first


def test_boost_usage_errors(data, run_cli):
    missing = run_cli(boost_unseen.main, ["--ranking", data / "weak.parquet", "--constant-from",
                                          data / "c.json", "--out", data / "t.parquet"])
    assert missing.exit_code == 2 and "--misconceptions" in missing.output
    untuned = run_cli(boost_unseen.main, ["--ranking", data / "weak.parquet", "--out", data / "t.parquet"])
    assert untuned.exit_code == 2 and "--train" in untuned.output
    assert not (data / "t.parquet").exists()


def test_synthetic_ids_tuned_as_seen_travel_in_the_json_to_test(data, run_cli):
    """--synth at tune time: its misconceptions are seen in every fold and the JSON lists them
    (also_seen), so applying it on test (the Kaggle notebook ships the JSON, not the CSV) keeps
    them from the unseen boost without --synth."""
    from conftest import synthetic_row
    synth_csv = data / "synth.csv"
    pd.DataFrame([synthetic_row(7), synthetic_row(9, offset=1)]).to_csv(synth_csv, index=False)
    saved = tune_boost(data, run_cli, "--synth", synth_csv)
    assert saved["also_seen"] == [7, 9]
    boosted = apply_boost(data, run_cli, saved)   # unseen (odd) ids first, but 7 and 9 are seen
    assert (boosted % 2 == 1).all() and not boosted.isin([7, 9]).any()
