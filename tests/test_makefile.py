"""The Makefile's names, read back with `make print-VAR` (no step runs):

    MODEL=<registry name>   sets RERANKER for a reranker, EMBEDDER for an embedder, whatever the
                            goal; a name the registry lacks stops Make with both lists
    RERANKED                RETRIEVED.rr-<reranker> (.rr<TOP_N>- with TOP_N), empty when
                            RERANKER=none; a name made with other settings than the defaults
                            carries their key (<name>~<6 hex>), a bare name means the defaults
    MODEL_DIR               what push-weights publishes: the reranker's folder, else the embedder's
    CV_NAME                 cv-<cv tag>-<8 hex of EVALUATE>
"""

import hashlib
import re
from pathlib import Path

import pytest
from conftest import REPO, make, make_value

from eedi import registry


def printed(out) -> list[str]:
    """The values of the print-VAR goals of a `make -n` run (it shows `echo 'VALUE'`)."""
    return [line[len("echo '"):-1] for line in out.stdout.splitlines() if line.startswith("echo '")]


value = make_value  # a Make variable's value under these settings


@pytest.mark.parametrize("goal", ["print-RERANKER", "train-reranker", "push-weights", "evaluate"])
def test_a_reranker_name_sets_reranker_whatever_the_goal(tmp_path, goal):
    # print-VAR first, then the goal under -n: the value is the one every goal of that run sees
    out = make(tmp_path, "-s", "-n", "print-RERANKER", "print-EMBEDDER", goal, "MODEL=qwen32b")
    assert out.returncode == 0, out.stderr[-2000:]
    assert printed(out)[:2] == ["qwen32b", "minilm"]


def test_an_embedder_name_sets_embedder_even_for_a_reranker_goal(tmp_path):
    out = make(tmp_path, "-s", "-n", "print-EMBEDDER", "print-RERANKER", "train-reranker",
               "MODEL=bge-large")
    assert out.returncode == 0, out.stderr[-2000:]
    assert printed(out)[:2] == ["bge-large", "none"]


def test_every_registry_name_has_one_kind(tmp_path):
    assert not set(registry.RETRIEVERS) & set(registry.RERANKERS)
    assert value(tmp_path, "MODELS.reranker").split() == list(registry.RERANKERS)
    assert value(tmp_path, "MODELS.retriever").split() == list(registry.RETRIEVERS)


def test_a_name_added_to_the_registry_is_known_at_once_though_the_names_file_is_older(tmp_path):
    """model-names.mk written before the registry gained a name (stale): Make rewrites it while
    parsing, so MODEL=<new name> is accepted on the first run (it used to stop, naming the old
    list: the include's remake comes after the MODEL check)."""
    import os
    names = tmp_path / "runs" / "model-names.mk"
    names.parent.mkdir(parents=True)
    names.write_text("MODELS.reranker := qwen32b\nMODELS.retriever := minilm\n")
    os.utime(names, (0, 0))  # older than scripts/eedi/registry.py
    assert value(tmp_path, "RERANKER", "MODEL=smollm135m-list") == "smollm135m-list"
    assert "smollm135m-list" in names.read_text()


def test_a_name_outside_the_registry_stops_make_naming_both_kinds(tmp_path):
    out = make(tmp_path, "-s", "print-RERANKER", "MODEL=Qwen/Qwen2.5-7B")
    assert out.returncode != 0
    assert "MODEL=Qwen/Qwen2.5-7B is not in scripts/eedi/registry.py" in out.stderr
    assert "qwen32b" in out.stderr and "bge-large" in out.stderr and "RERANKER=" in out.stderr


def test_reranked_is_empty_without_a_reranker(tmp_path):
    assert value(tmp_path, "RERANKED") == ""
    assert value(tmp_path, "RERANKED", "RERANKER=qwen32b", "RETRIEVED=minilm-ft") == \
        "minilm-ft.rr-qwen32b"
    out = make(tmp_path, "rerank")
    assert out.returncode != 0 and "make rerank needs MODEL=<reranker>" in out.stderr


def test_push_weights_publishes_the_reranker_else_the_embedder(tmp_path):
    models = value(tmp_path, "MODELS")
    assert value(tmp_path, "MODEL_DIR") == f"{models}/minilm"
    assert value(tmp_path, "MODEL_DIR", "MODEL=qwen32b", "RETRIEVED=minilm-ft") == f"{models}/qwen32b"
    assert value(tmp_path, "MODEL_DIR", "MODEL_DIR=elsewhere/q.w4a16") == "elsewhere/q.w4a16"
    # issue 37: the embedder trained with other settings is minilm~<key>, and that is what is
    # published (MODEL_DIR took the bare name: the default model went out instead)
    keyed = value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 1")
    assert keyed.startswith("minilm~")
    assert value(tmp_path, "MODEL_DIR", "TRAIN_ARGS=--epochs 1") == f"{models}/{keyed}"


def test_cv_files_are_named_by_a_hash_of_the_rankings(tmp_path):
    run, tag = value(tmp_path, "RUN"), value(tmp_path, "CV_TAG")
    digest = hashlib.md5(b"tfidf minilm-zs").hexdigest()[:8]
    assert value(tmp_path, "CV_NAME", "EVALUATE=tfidf minilm-zs") == f"{run}/cv-{tag}-{digest}"
    assert value(tmp_path, "CV_NAME", "EVALUATE=tfidf minilm-ft") != f"{run}/cv-{tag}-{digest}"


def test_an_embedders_negatives_come_from_its_registry_ranking_or_negatives(tmp_path):
    """Retriever.negatives_from per model (minilm: its own zero-shot ranking; qwen14b-emb: the
    fine-tuned MiniLM's, which Make builds first: five MiniLM folds), NEGATIVES= for all."""
    import re

    def negatives(*args):
        out = make(tmp_path, "-n", "train-retriever", "FOLD=0", *args)
        assert out.returncode == 0, out.stderr[-2000:]
        trained = re.findall(r"train_retriever\.py --model (\S+) .*?--negatives \S+/train_(\S+)\.parquet",
                             out.stdout.replace("\\\n", " "))
        return trained

    assert negatives("MODEL=minilm") == [("minilm", "minilm-zs")]
    chain = negatives("MODEL=qwen14b-emb")
    assert chain[-1] == ("qwen14b-emb", "minilm-ft") and chain.count(("minilm", "minilm-zs")) == 5
    assert negatives("MODEL=qwen14b-emb", "NEGATIVES=tfidf") == [("qwen14b-emb", "tfidf")]
    assert negatives("MODEL=bge-large", "NEGATIVES=minilm-ft")[-1] == ("bge-large", "minilm-ft")
    assert negatives("EMBEDDER=some/folder") == [("some/folder", "some/folder-zs")]


def test_setup_vllm_installs_the_cuda_build_where_nvidia_smi_lists_a_gpu(tmp_path):
    import os
    import stat

    def installs(*args, gpu=None):
        env = dict(os.environ)
        if gpu is not None:  # a stand-in nvidia-smi first on PATH
            bin_dir = tmp_path / "bin"
            bin_dir.mkdir(exist_ok=True)
            smi = bin_dir / "nvidia-smi"
            smi.write_text(f"#!/bin/sh\necho '{gpu}'\n")
            smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
            env["PATH"] = f"{bin_dir}:{env['PATH']}"
        out = make(tmp_path, "-n", "-B", ".venv-vllm/.installed", *args, env=env)
        return out.returncode, out.stdout

    code, cpu = installs()
    assert code == 0 and "pip install -r requirements-vllm.txt" in cpu and "uninstall" in cpu
    code, cuda = installs(gpu="GPU 0: NVIDIA H200 (UUID: GPU-1234)")
    assert code == 0 and "pip install -r requirements-vllm-cuda.txt" in cuda
    assert "uninstall" not in cuda
    assert "requirements-vllm.txt" in installs("VLLM_BUILD=cpu", gpu="GPU 0: T4")[1]
    assert "requirements-vllm-cuda.txt" in installs("VLLM_BUILD=cuda")[1]
    code, _ = installs("VLLM_BUILD=rocm")
    assert code != 0


KEY = r"~[0-9a-f]{6}"


def test_settings_other_than_the_defaults_name_what_they_make(tmp_path):
    """Settings keys: rows of make experiments run side by side and must not overwrite each
    other's models. TRAIN_ARGS / NEGATIVES name the embedder's folder and rankings
    (minilm~<key>), RETRIEVED (its negatives) / TRAIN_RERANKER_ARGS the reranker's, TOP_N the
    reranked ranking (.rr<N>-), FUSE_ARGS the fusion (fuse~<key>-), BOOST_ARGS the boost
    (.boost~<key>). A bare name is the defaults' (the sample's own TRAIN_ARGS included); the
    same settings give the same key."""
    assert value(tmp_path, "EMBEDDER_ID") == "minilm"
    assert value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 1 --batch-size 32 --lr 5e-5") == "minilm"
    two = value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 2")
    assert re.fullmatch(f"minilm{KEY}", two)
    assert value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS= --epochs 2 ") == two
    assert value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 3") not in ("minilm", two)
    assert value(tmp_path, "EMBEDDER_ID", "NEGATIVES=tfidf") not in ("minilm", two)

    settings = ["RERANKER=qwen32b", "RETRIEVED=minilm-ft"]
    assert value(tmp_path, "RERANKED", *settings, "TOP_N=50") == "minilm-ft.rr50-qwen32b"
    assert re.fullmatch(rf"tfidf\.rr-qwen32b{KEY}", value(tmp_path, "RERANKED", "RERANKER=qwen32b"))
    assert re.fullmatch(rf"minilm-ft\.rr-qwen32b{KEY}",
                        value(tmp_path, "RERANKED", *settings, "TRAIN_RERANKER_ARGS=--epochs 2"))
    # (make() names FINAL itself: the default FINAL is $(FUSED)$(BOOSTED))
    assert value(tmp_path, "FUSED", "FUSE=tfidf minilm-ft") == "fuse-tfidf+minilm-ft"
    assert re.fullmatch(rf"fuse{KEY}-tfidf\+minilm-ft",
                        value(tmp_path, "FUSED", "FUSE=tfidf minilm-ft", "FUSE_ARGS=--k 10"))
    assert value(tmp_path, "BOOSTED") == ".boost"
    assert re.fullmatch(rf"\.boost{KEY}", value(tmp_path, "BOOSTED", "BOOST_ARGS=--objective balanced"))


def test_a_name_keyed_by_other_settings_is_not_rebuilt_with_these(tmp_path):
    """minilm~<key> stands for the settings that made it: asked to make it under other
    settings, make stops and names the file recording them (RUN/keys/<key>)."""
    models, run = value(tmp_path, "MODELS"), value(tmp_path, "RUN")
    out = make(tmp_path, "-n", f"{models}/minilm~abcdef/all/train.json", "TRAIN_ARGS=--epochs 2")
    assert out.returncode != 0
    assert "minilm~abcdef stands for other settings than this command line's" in out.stderr
    assert f"{run}/keys/abcdef" in out.stderr
    # under its own settings it would be trained, with them
    key = value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 2")
    out = make(tmp_path, "-n", f"{models}/{key}/all/train.json", "TRAIN_ARGS=--epochs 2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "train_retriever.py --model minilm" in out.stdout and "--epochs 2 --out" in out.stdout
    # the key's settings are written while Make parses (no recipe: make -n lists none), with
    # the defaults they differ from (make why reads both)
    keys = REPO / run / "keys" if not Path(run).is_absolute() else Path(run) / "keys"
    assert (keys / key[-6:]).read_text() == "TRAIN_ARGS=--epochs 2 NEGATIVES=\n"
    assert "TRAIN_ARGS=" in (keys / "defaults.RETRIEVER").read_text()
    assert f"keys/{key[-6:]}" not in out.stdout


def test_synth_reaches_every_training_command_and_the_boost_under_keyed_names(tmp_path):
    """SYNTH=<file>: every fold's and the all-train retriever and reranker train with --synth,
    under names keyed by it (never the defaults' folders), and the boost counts its
    misconceptions as seen, on train and on test; the file is an input then (no rule remakes
    it) and make synth refuses to run with it."""
    extra = tmp_path / "synth.csv"
    extra.write_text("QuestionId\n")
    settings = [f"SYNTH={extra}", "MODEL=smollm135m"]
    embedder = value(tmp_path, "EMBEDDER_ID", *settings)
    assert embedder.startswith("minilm~") and value(tmp_path, "EMBEDDER_ID") == "minilm"
    settings.append(f"RETRIEVED={embedder}-ft")   # the default (conftest's make sets tfidf)
    out = make(tmp_path, "-n", "train-retriever", "train-reranker", *settings)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.replace("\\\n", " ").splitlines()   # recipes' continued lines joined
    # (not the steps' manifests, make/freshness.py record: they name the scripts among inputs)
    trains = [l for l in lines if "scripts/train_re" in l and "make/freshness.py" not in l]
    assert len(trains) == 12   # 5 folds + all, retriever and reranker
    assert all(f"--synth {extra}" in l for l in trains)
    assert all(f"/{embedder}/" in l for l in trains if "train_retriever" in l)
    boost = value(tmp_path, "BOOSTED", *settings)
    assert boost.startswith(".boost~")
    run = value(tmp_path, "RUN", *settings)
    out = make(tmp_path, "-n", f"{run}/rankings/test_tfidf{boost}.parquet", *settings)
    assert out.returncode == 0, out.stderr[-2000:]
    boosts = [l for l in out.stdout.replace("\\\n", " ").splitlines()
              if "boost_unseen.py" in l and "make/freshness.py" not in l]
    # tuned with --synth; test's boost reads the synthetic ids from the tune step's JSON
    assert len(boosts) == 2 and f"--synth {extra}" in boosts[0] and "--constant-from" in boosts[1]
    # with SYNTH set its file is an input: no rule remakes it (training on it never rewrites
    # it), and make synth says to run without SYNTH
    synth_out = value(tmp_path, "SYNTH_OUT", "MODEL=smollm135m")
    out = make(tmp_path, "-n", synth_out, f"SYNTH={synth_out}", "MODEL=smollm135m")
    assert out.returncode != 0 and "No rule to make target" in out.stderr
    out = make(tmp_path, "synth", *settings)
    assert out.returncode != 0 and "run it without SYNTH=" in out.stderr
    out = make(tmp_path, "-n", "synth", "MODEL=smollm135m")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "scripts/synth.py" in out.stdout and "/minilm/all --model smollm135m" in out.stdout.replace("\\\n", " ").replace("  ", " ")
    assert "--engine hf" in out.stdout
    out = make(tmp_path, "-n", "synth", "MODEL=smollm135m", "ENGINE=vllm")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--engine vllm" in out.stdout


def test_cascade_compares_the_embedder_trained_with_this_command_lines_settings(tmp_path):
    """Issue 37: with TRAIN_ARGS the fine-tuned ranking is minilm~<key>-ft; CASCADE named the
    default's minilm-ft, so make cascade trained a second, default model."""
    keyed = value(tmp_path, "EMBEDDER_ID", "TRAIN_ARGS=--epochs 1")
    assert value(tmp_path, "CASCADE", "TRAIN_ARGS=--epochs 1") == f"tfidf {keyed}-ft"
    assert value(tmp_path, "CASCADE") == "tfidf minilm-ft"


def test_the_readmes_fsdp_command_passes_a_dry_run(tmp_path):
    """Issue 37: `make train-reranker MODEL=qwen72b GPUS=2 DISTRIBUTED=fsdp FOLD=0` stopped while
    Make expanded the embedder's rule (its negatives come from minilm-ft): that embedder now
    trains in one process on the first GPU, the reranker over both with FSDP."""
    out = make(tmp_path, "-n", "train-reranker", "MODEL=qwen72b", "GPUS=2", "DISTRIBUTED=fsdp",
               "FOLD=0", retriever="minilm-ft")
    assert out.returncode == 0, out.stderr[-2000:]
    embedders = re.findall(r"^.*?(\S+) \S+ scripts/train_retriever\.py --model", out.stdout, re.M)
    assert embedders and set(embedders) == {"CUDA_VISIBLE_DEVICES=0"}
    assert "-m torch.distributed.run --nproc_per_node 2 --standalone scripts/train_reranker.py" in out.stdout
    assert "--fsdp" in out.stdout
