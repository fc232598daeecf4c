"""The inference notebook's plan (kernel.json) and the test-side stage commands it runs.

`make kernel` writes the plan from the Make settings; the driver (scripts/kaggle/infer.py) reads it
on Kaggle. The steps follow from FINAL's name, by the Makefile's own naming rules:

    X.boost        boost_unseen.py --constant-from boost-X.json         (needs X)
    fuse-a+b+...   fuse.py --weights fusion-fuse-a+b.json                (needs a, b, ...)
    X.rr-<name>    rerank.py with the all-train adapter <name>           (needs X)
    X.rr<N>-<name> the same over X's top N (TOP_N)
    <m>-ft / -ft2  retrieve_embed.py with the all-train model <m> / <m>.r2
    <m>-zs         retrieve_embed.py with <m> as it is (registry name or HF id)
    tfidf          retrieve_tfidf.py

A name made with other settings than the defaults carries their key (the Makefile's settings
keys): a model folder <m>~3f2a1c, fuse~b30cb1-a+b (FUSE_ARGS), X.boost~b683e9 (BOOST_ARGS, its
JSON boost-X~b683e9.json).

    steps = plan_steps("fuse-tfidf+minilm-ft.boost")   # [Step(ranking="tfidf", kind="tfidf"), ...]
    plan = build_plan(final=..., top_k=None, top_n=None, engine="hf", gpus=1, ...)
    commands = stage_commands(step, plan, paths)      # [[argv, ...] run in parallel, ...] in turn

The commands are the Makefile's test-side rules with the same arguments (tests/test_kernel_plan.py
checks them against `make -n`), only with paths on Kaggle. The reranker's base weights come
from Kaggle Models or a dataset instead of the Hub: with_base_model() gives the adapter a
reranker.json naming that folder (links to the read-only adapter files beside it).

kernel.json (format 1):

    {"format": 2, "competition": "eedi-mining-misconceptions-in-mathematics",
     "final": "fuse-tfidf+minilm-ft.boost",
     "steps": [{"ranking": "tfidf", "kind": "tfidf", "inputs": []},
               {"ranking": "minilm-ft", "kind": "embed", "inputs": [], "model": "minilm",
                "weights_dataset": "eedi-minilm"}, ...,
               {"ranking": "fuse-tfidf+minilm-ft", "kind": "fuse", "inputs": ["tfidf", "minilm-ft"],
                "json": "fusion-fuse-tfidf+minilm-ft.json"}, ...],
     "fallback": ["fuse-tfidf+minilm-ft.boost", "fuse-tfidf+minilm-ft", "minilm-ft", "tfidf"],
     "top_k": null, "top_n": null, "engine": "hf", "gpus": 1, "vllm_profile": "auto",
     "tensor_parallel": null,
     "reranker": null | {"name": "smollm135m", "weights_dataset": "eedi-smollm135m",
                         "base_folder": "smollm2-135m-instruct", "kaggle_model": null},
     "budget_s": 29700, "estimates": {"embed": {"fixed_s": 180, "per_row_s": 0.05}, ...},
     "public_test_questions": 3}
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eedi.defaults import COMPETITION
from eedi.kaggle.inputs import weights_slug

# The Makefile's settings key: ~ and the first 6 hex digits of the settings' md5.
KEY = r"~[0-9a-f]{6}"
_BOOST = re.compile(rf"^(?P<base>.+)\.boost(?P<key>{KEY})?$")
_FUSE = re.compile(rf"^fuse(?:{KEY})?-(?P<members>.+)$")
_RERANK = re.compile(r"^(?P<base>.+)\.rr(?P<top_n>\d*)-(?P<model>[^+]+)$")


def is_folder_of(name: str, model: str) -> bool:
    """Whether model folder `name` was made from `model` (a registry name, HF id or folder):
    the Makefile's <model>, <model>~<key>, and either with a quantisation tag (.w4a16)."""
    return re.fullmatch(rf"{re.escape(Path(model).name)}({KEY})?(\.[a-z0-9-]+)?", name) is not None

PLAN_FORMAT = 2  # 2: a step's weights dataset is "weights_dataset" (was "weights")
# Kaggle's public test.csv has 3 questions; the scoring rerun swaps in the hidden one.
PUBLIC_TEST_QUESTIONS = 3


@dataclass
class Step:
    """One stage of the plan: the ranking of test it makes and the rankings it needs."""
    ranking: str
    kind: str                       # tfidf | embed | rerank | fuse | boost
    inputs: list[str] = field(default_factory=list)
    model: str | None = None        # embed: the model name (-zs: as given; -ft: trained <m>)
    top_n: int | None = None        # rerank: candidates per row when the name says (X.rr<N>-)
    weights_dataset: str | None = None  # embed -ft/-ft2, rerank: the weights dataset's slug
    json: str | None = None         # fuse: fusion-*.json; boost: boost-*.json (in the plan folder)


def _leaf(name: str) -> Step:
    if name == "tfidf":
        return Step(name, "tfidf")
    for suffix, folder in (("-ft2", ".r2"), ("-ft", "")):
        if name.endswith(suffix):
            model = name[: -len(suffix)] + folder
            return Step(name, "embed", model=model, weights_dataset=weights_slug(model))
    if name.endswith("-zs"):
        return Step(name, "embed", model=name[: -len("-zs")])
    raise ValueError(f"ranking {name!r}: not tfidf, <model>-zs, <model>-ft(2), X.rr-<reranker>, "
                     "fuse-a+b or X.boost (the Makefile's names)")


def plan_steps(final: str) -> list[Step]:
    """The steps that make `final`, each after the ones it needs, each once."""
    steps: dict[str, Step] = {}

    def visit(name: str) -> None:
        if name in steps:
            return
        boost, fuse, rerank = _BOOST.match(name), _FUSE.match(name), _RERANK.match(name)
        if boost:
            base = boost["base"]
            step = Step(name, "boost", [base], json=f"boost-{base}{boost['key'] or ''}.json")
        elif fuse:
            step = Step(name, "fuse", fuse["members"].split("+"), json=f"fusion-{name}.json")
        elif rerank:
            reranker = rerank["model"]
            step = Step(name, "rerank", [rerank["base"]], model=reranker,
                        weights_dataset=weights_slug(reranker),
                        top_n=int(rerank["top_n"]) if rerank["top_n"] else None)
        else:
            step = _leaf(name)
        for needed in step.inputs:
            visit(needed)
        steps[name] = step

    visit(final)
    return list(steps.values())


def build_plan(final: str, top_k: int | None, top_n: int | None, engine: str, gpus: int,
               reranker: dict | None, budget_s: float, estimates: dict,
               vllm_profile: str = "auto", tensor_parallel: int | None = None) -> dict:
    """tensor_parallel: GPUs one copy of the reranker spans (the Makefile's TENSOR_PARALLEL /
    the registry's for the profile); with gpus > 1, gpus / tensor_parallel copies run."""
    steps = plan_steps(final)
    # Best first when stages are skipped: the final ranking, then later stages before earlier.
    fallback = [s.ranking for s in reversed(steps)]
    return {"format": PLAN_FORMAT, "competition": COMPETITION, "final": final,
            "steps": [asdict(s) for s in steps], "fallback": fallback, "top_k": top_k,
            "top_n": top_n, "engine": engine, "gpus": gpus, "reranker": reranker,
            "vllm_profile": vllm_profile, "tensor_parallel": tensor_parallel,
            "budget_s": budget_s, "estimates": estimates,
            "public_test_questions": PUBLIC_TEST_QUESTIONS}


def read_plan(path: Path) -> dict:
    plan = json.loads(Path(path).read_text())
    if plan.get("format") != PLAN_FORMAT:
        raise ValueError(f"{path}: plan format {plan.get('format')!r}, this code reads {PLAN_FORMAT}")
    return plan


def steps_of(plan: dict) -> list[Step]:
    return [Step(**s) for s in plan["steps"]]


@dataclass
class Paths:
    """Where one inference run reads and writes (the notebook's, or a rehearsal's)."""
    code: Path                  # the code dataset (holds scripts/)
    data: Path                  # the competition folder (train.csv, test.csv, mapping)
    plan: Path                  # the folder holding kernel.json and the fusion/boost JSONs
    run: Path                   # scratch: long tables, rankings/
    models: dict[str, Path] = field(default_factory=dict)  # weights slug -> its all/ folder
    vllm_site: Path | None = None  # ENGINE=vllm: the folder vLLM was installed into (--target)

    def ranking(self, name: str) -> Path:
        return self.run / "rankings" / f"test_{name}.parquet"

    def script(self, name: str) -> str:
        return str(self.code / "scripts" / name)


def reshape_command(paths: Paths) -> list[str]:
    return [sys.executable, paths.script("reshape.py"), "--data-dir", str(paths.data),
            "--out-dir", str(paths.run)]


def submission_command(paths: Paths, ranking: str, out: Path) -> list[str]:
    return [sys.executable, paths.script("make_submission.py"), "--ranking",
            str(paths.ranking(ranking)), "--test-csv", str(paths.data / "test.csv"),
            "--mapping", str(paths.data / "misconception_mapping.csv"), "--out", str(out)]


def stage_commands(step: Step, plan: dict, paths: Paths) -> list[list[tuple[list[str], dict]]]:
    """The step's commands as the Makefile's test-side rule runs them: a list of groups run
    in turn; the commands of a group run in parallel, each as (argv, extra environment)."""
    py = sys.executable
    test_long = str(paths.run / "test_long.parquet")
    mis = str(paths.run / "misconceptions.parquet")
    out = str(paths.ranking(step.ranking))
    top_k = ["--top-k", str(plan["top_k"])] if plan.get("top_k") else []
    if step.kind == "tfidf":
        return [[([py, paths.script("retrieve_tfidf.py"), "--queries", test_long,
                   "--misconceptions", mis, *top_k, "--out", out], {})]]
    gpus = ["--gpus", str(plan["gpus"])] if int(plan.get("gpus") or 1) > 1 else []
    if step.kind == "embed":
        model = str(paths.models[step.weights_dataset]) if step.weights_dataset else step.model
        return [[([py, paths.script("retrieve_embed.py"), "--model", model, "--queries",
                   test_long, "--misconceptions", mis, *top_k, *gpus, "--out", out], {})]]
    if step.kind == "fuse":
        members = [a for m in step.inputs for a in ("--member", f"{m}={paths.ranking(m)}")]
        return [[([py, paths.script("fuse.py"), *members, "--weights",
                   str(paths.plan / step.json), *top_k, "--out", out], {})]]
    if step.kind == "boost":
        return [[([py, paths.script("boost_unseen.py"), "--ranking",
                   str(paths.ranking(step.inputs[0])), "--misconceptions", mis,
                   "--constant-from", str(paths.plan / step.json), "--out", out], {})]]
    if step.kind == "rerank":
        # rerank.py --gpus N starts GPUS / TP copies on their GPU groups and merges them
        n = step.top_n or plan.get("top_n")
        top_n = ["--top-n", str(n)] if n else []
        tp = plan.get("tensor_parallel")
        # vLLM is installed apart from the image (eedi.kaggle.install.install_vllm): only this
        # stage sees it, first on its path
        env = ({"PYTHONPATH": os.pathsep.join(filter(None, [str(paths.vllm_site),
                                                           os.environ.get("PYTHONPATH")]))}
               if plan["engine"] == "vllm" and paths.vllm_site else {})
        return [[([py, paths.script("rerank.py"), "--model", str(paths.models[step.weights_dataset]),
                   "--ranking", str(paths.ranking(step.inputs[0])), "--queries", test_long,
                   "--misconceptions", mis, "--engine", plan["engine"], *top_n,
                   "--vllm-profile", plan.get("vllm_profile") or "auto",
                   "--gpus", str(plan.get("gpus") or 1),
                   *(["--tensor-parallel", str(tp)] if tp else []), "--out", out], env)]]
    raise ValueError(f"unknown step kind {step.kind!r}")


def with_base_model(adapter: Path, base: Path, out: Path) -> Path:
    """OUT: the adapter folder's files linked in, its reranker.json naming `base` as the base
    model (an absolute folder: loaded as it is, no Hub, no GGUF conversion). The adapter's
    own folder is read-only on Kaggle, so the rewritten spec goes beside links to it."""
    from eedi.files import atomic_folder, write_json
    from eedi.registry import Reranker
    with atomic_folder(out) as tmp:
        for item in Path(adapter).iterdir():
            if item.name != Reranker.SPEC_FILE:
                (tmp / item.name).symlink_to(item.resolve())
        spec = json.loads((Path(adapter) / Reranker.SPEC_FILE).read_text())
        spec["model"] = str(Path(base).resolve())
        write_json(spec, tmp / Reranker.SPEC_FILE)
    return out
