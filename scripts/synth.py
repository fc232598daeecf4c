"""Write synthetic training questions for the misconceptions train shows fewer than K times:
an LLM prompted few-shot with real questions of each one's nearest seen misconceptions; every
answer parsed and validated, optionally judged 0-10 by a second prompt.

\b
Reads  TRAIN           train_long.parquet (the labelled rows: what is seen, and the examples)
       MISCONCEPTIONS  misconceptions.parquet (names; the targets are those with < K rows)
       EMBEDDER        the retriever whose name embeddings pick each target's nearest seen
                       misconceptions (a registry name or a trained folder: minilm-ft's all)
       MODEL           the writer: a registry reranker name (its base LLM, no adapter), an HF
                       id or a folder; JUDGE the same for the judge (default: the writer)
                       ENGINE hf: HF generate here; vllm: vLLM in .venv-vllm (--vllm-python), one
                       subprocess for every unfinished chunk (scripts/vllm_generate.py); the
                       judge, one forward per question, runs on HF either way
Writes OUT             the kept questions in Kaggle's train.csv columns: QuestionId from
                       10,000,000 up, ConstructId/SubjectId -1, the target misconception on the
                       wrong answer only (so SYNTH=OUT trains like train.csv's rows)
       OUT.json        the writer, judge, prompts, seed and settings, and the counts: attempts,
                       parsed, valid, judged (mean score), kept, dropped by reason
       OUT.parts/      while running: each finished chunk of targets (and vLLM's texts per
                       chunk); a re-run after a kill writes only the missing chunks (same
                       settings and inputs), then deletes it

Nothing unparseable or invalid (a field missing or empty, the correct answer marked wrong, two
answers the same) is written: it is counted in OUT.json. Each is written whole (temp file +
rename), OUT.json first: OUT, Make's target, exists only beside its own counts. See eedi/synth/.
"""

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from eedi.files import atomic_write, write_json
from eedi.long_table import misconception_names
from eedi.registry import VLLM_PROFILES, vllm_settings
from eedi.rerank.reranker import base_model_path, load_model, load_tokenizer, reranker_spec
from eedi.run_log import log, setup_logging, step_timer
from eedi.synth.few_shot import example_rows, nearest_seen
from eedi.synth.generation import (JUDGE_INSTRUCTION, WRITER_INSTRUCTION, PartStore, counts,
                                   generate, judge, writer_messages, writer_prompt)
from eedi.synth.question_format import FIRST_QUESTION_ID, Unparseable, parse, train_row, validate
from eedi.kaggle_csv import TRAIN_COLUMNS

FILE = click.Path(dir_okay=False, path_type=Path)
PROMPT_SHA = hashlib.sha256((WRITER_INSTRUCTION + JUDGE_INSTRUCTION).encode()).hexdigest()[:12]


def name_embeddings(embedder: str, names: list[str], cache_dir: Path) -> np.ndarray:
    from eedi.retrieval.embedding import cached_embeddings, embedder_spec, load_embedder
    spec = embedder_spec(embedder)
    return cached_embeddings(load_embedder(spec), spec, names, cache_dir)


def attempt(text: str, target: int, judged: float | None = None) -> dict:
    """One generated text -> its record: status kept / unparseable / invalid (+ reason)."""
    record = {"target": target, "text": text, "judge": judged}
    try:
        question = parse(text)
    except Unparseable as e:
        return {**record, "status": "unparseable", "reason": f"unparseable: {e}"}
    problem = validate(question)
    if problem:
        return {**record, "status": "invalid", "reason": problem, "question": question}
    return {**record, "status": "kept", "question": question}


@click.command(help=__doc__)
@click.option("--train", "train_path", type=FILE, required=True)
@click.option("--misconceptions", type=FILE, required=True)
@click.option("--embedder", default="minilm", show_default=True,
              help="Retriever for the nearest seen misconceptions (registry name or folder).")
@click.option("--model", "model_name", default="smollm135m", show_default=True,
              help="The writer LLM (registry reranker name, HF id or folder).")
@click.option("--judge", "judge_name", default=None,
              help="The judge LLM [the writer]; see --min-score.")
@click.option("--min-score", type=click.FloatRange(0, 10), default=None,
              help="Judge each valid question 0-10 and keep those scoring at least this; "
                   "omit: no judge pass.")
@click.option("--fewer-than", "fewer_than", type=click.IntRange(1), default=1, show_default=True,
              help="Targets: misconceptions with fewer train rows than this (1: never seen).")
@click.option("--at-least", "at_least", type=click.IntRange(0), default=0, show_default=True,
              help="...and at least this many (1 leaves out the never-seen: the targets that CV "
                   "can credit, as some CV row holds each).")
@click.option("--per", type=click.IntRange(1), default=1, show_default=True,
              help="Questions written per target (5th place: 1; more hurt their CV).")
@click.option("--shots", type=click.IntRange(0), default=3, show_default=True,
              help="Real questions of the nearest seen misconceptions shown first.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Only the first N targets (by id): a CPU budget.")
@click.option("--max-new-tokens", type=click.IntRange(16), default=256, show_default=True)
@click.option("--temperature", type=click.FloatRange(0.01), default=0.8, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Prompts per HF generate call (vLLM batches a whole chunk itself).")
@click.option("--engine", type=click.Choice(["hf", "vllm"]), default="hf", show_default=True,
              help="Who writes: HF generate here, or vLLM in --vllm-python's venv.")
@click.option("--vllm-python", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(".venv-vllm/bin/python"), show_default=True,
              help="The .venv-vllm interpreter that runs scripts/vllm_generate.py.")
@click.option("--vllm-profile", type=click.Choice(["auto", *VLLM_PROFILES]), default="auto",
              show_default=True, help="The registry's vLLM GPU settings for the writer.")
@click.option("--chunk", "chunk_size", type=click.IntRange(1), default=32, show_default=True,
              help="Targets per saved chunk: a killed run resumes from its finished chunks.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/cache/embeddings"), show_default=True)
@click.option("--out", type=FILE, required=True)
def main(train_path, misconceptions, embedder, model_name, judge_name, min_score, fewer_than,
         at_least, per, shots, limit, max_new_tokens, temperature, batch_size, engine, vllm_python,
         vllm_profile, chunk_size, seed, cache_dir, out):
    setup_logging()
    if at_least >= fewer_than:
        raise click.BadParameter(f"--at-least {at_least} leaves no target below --fewer-than "
                                 f"{fewer_than}", param_hint="--at-least")
    if engine == "vllm" and not vllm_python.is_file():
        raise click.ClickException(f"{vllm_python}: no such interpreter; --engine vllm runs vLLM "
                                   f"in its own venv (make setup-vllm) or give --vllm-python")
    with step_timer("synth", model=model_name, judge=judge_name) as record:
        # 1. targets (misconceptions train shows < K times) and their few-shot examples
        train = pd.read_parquet(train_path)
        names = misconception_names(misconceptions)
        train_count = train["MisconceptionId"].dropna().astype(int).value_counts()
        targets = sorted(m for m in names
                         if at_least <= train_count.get(m, 0) < fewer_than)[:limit]
        examples = example_rows(train)
        ids = sorted(names)
        near = (nearest_seen(name_embeddings(embedder, [names[m] for m in ids], cache_dir), ids,
                             set(examples), targets, shots) if shots else {t: [] for t in targets})
        log.info("%d targets (%d to %d train rows), %d questions each, %d shots from %d seen",
                 len(targets), at_least, fewer_than - 1, per, shots, len(examples))

        # 2. write (and judge) chunk by chunk, each chunk kept in OUT.parts/ as it finishes
        settings = {"model": model_name, "judge": (judge_name or model_name) if min_score is not None
                    else None, "min_score": min_score, "fewer_than": fewer_than, "at_least": at_least,
                    "per": per, "shots": shots, "limit": limit, "max_new_tokens": max_new_tokens,
                    "temperature": temperature, "seed": seed, "embedder": embedder, "engine": engine}
        # what the texts depend on: a part written under anything else is discarded (the chunk
        # size fixes which targets a part holds, the batch size HF's sampling)
        embedder_files = [p for p in (Path(embedder) / "train.json",) if p.is_file()]
        fingerprint = {**settings, "chunk": chunk_size, "batch_size": batch_size,
                       "prompts": PROMPT_SHA, "inputs": {
                           str(p): [p.stat().st_size, p.stat().st_mtime_ns]
                           for p in (train_path, misconceptions, *embedder_files)}}
        store = PartStore(out.parent / f"{out.name}.parts", fingerprint)
        loaded = {}

        def hf(name):  # (model, tokenizer), each loaded on first use
            if name not in loaded:
                spec = reranker_spec(name).replace(adapter=None)
                loaded[name] = (load_model(spec), load_tokenizer(spec))
            return loaded[name]

        records, started = [], time.time()
        chunks = [[t for t in targets[i:i + chunk_size] for _ in range(per)]
                  for i in range(0, len(targets), chunk_size)]
        todo = [k for k, jobs in enumerate(chunks) if store.load(k, jobs) is None]
        writer_spec = reranker_spec(model_name).replace(adapter=None)
        prompts = {}
        if todo:
            tokenizer = load_tokenizer(writer_spec)
            prompts = {k: [writer_prompt(tokenizer, writer_messages(
                names[t], [(names[s], *examples[s]) for s in near[t]])) for t in chunks[k]]
                for k in todo}
        if engine == "vllm" and todo:
            vllm_texts = vllm_write(vllm_python, writer_spec, tokenizer, prompts, seed,
                                    max_new_tokens, temperature, vllm_profile, store.folder)
        for k, jobs in enumerate(chunks):
            done = store.load(k, jobs)
            if done is None:
                if engine == "vllm":
                    texts = vllm_texts[k]
                else:
                    texts = generate(*hf(model_name), prompts[k], seed=seed + k,
                                     max_new_tokens=max_new_tokens, temperature=temperature,
                                     batch_size=batch_size)
                done = [attempt(text, t) for text, t in zip(texts, jobs)]
                if min_score is not None:
                    done = judged(done, names, hf(judge_name or model_name), min_score, batch_size)
                store.save(k, done)
                log.info("chunk %d/%d: %d of %d kept", k + 1, len(chunks),
                         sum(r["status"] == "kept" for r in done), len(done))
            records += done

        # 3. OUT (train.csv columns) and OUT.json, together
        kept = [r for r in records if r["status"] == "kept"]
        rows = pd.DataFrame([train_row(r["question"], FIRST_QUESTION_ID + i, r["target"])
                             for i, r in enumerate(kept)], columns=TRAIN_COLUMNS)
        for x in "ABCD":
            rows[f"Misconception{x}Id"] = rows[f"Misconception{x}Id"].astype("Int64")
        tally = counts(records)
        meta = {**settings, "targets": len(targets), "counts": tally,
                "seconds": round(time.time() - started, 1),
                "prompts": {"writer": WRITER_INSTRUCTION,
                            "judge": JUDGE_INSTRUCTION if min_score is not None else None},
                "prompt_sha256": PROMPT_SHA}
        with atomic_write(out) as tmp:
            rows.to_csv(tmp, index=False)
            write_json(meta, Path(f"{out}.json"))
        store.clear()
        record.update(targets=len(targets), **{k: tally[k] for k in ("attempts", "parsed", "kept")})
        log.info("wrote %s: %d questions for %d of %d targets; %d attempts, %d parsed, %d valid",
                 out, len(rows), len({r["target"] for r in kept}), len(targets),
                 tally["attempts"], tally["parsed"], tally["valid"])


def vllm_write(python: Path, spec, tokenizer, prompts: dict[int, list[str]], seed: int,
               max_new_tokens: int, temperature: float, profile: str, folder: Path,
               top_p: float = 0.95) -> dict[int, list[str]]:
    """{chunk: its prompts} -> {chunk: texts}, sampled by scripts/vllm_generate.py in `python`
    (the .venv-vllm interpreter), one engine for all the chunks; each chunk's texts land in
    `folder` as it finishes, and a chunk already there is not written again."""
    ids = {k: [tokenizer(p, add_special_tokens=False)["input_ids"] for p in ps]
           for k, ps in prompts.items()}
    longest = max(len(p) for ps in ids.values() for p in ps)
    engine_args = {key: value for key, value in vllm_settings(spec, profile).items()
                   if key != "max_model_len"}   # the reranker's; the writer's prompts are longer
    job = {"model": base_model_path(spec), "max_model_len": longest + max_new_tokens + 8,
           "engine_args": engine_args, "quantize_4bit": spec.quantize_4bit,
           "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
           "chunks": [{"key": f"{k:05d}", "seed": seed + k, "prompts": ids[k]} for k in ids]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vllm_job.json").write_text(json.dumps(job))
    command = [str(python), str(Path(__file__).parent / "vllm_generate.py"),
               "--job", str(folder / "vllm_job.json"), "--out-dir", str(folder)]
    log.info("vLLM writes %d chunks: %s", len(ids), " ".join(command))
    if subprocess.run(command, stdout=sys.stderr).returncode:
        raise click.ClickException("vllm_generate.py failed (its output is above); the chunks "
                                   f"it finished are kept in {folder}")
    return {k: json.loads((folder / f"{k:05d}.texts.json").read_text()) for k in ids}


def judged(records, names, judge_model, min_score, batch_size):
    """Score the valid questions 0-10 with the judge (model, tokenizer); keep those scoring at
    least min_score (the others: status "judged out")."""
    model, tokenizer = judge_model
    valid = [r for r in records if r["status"] == "kept"]
    scores = judge(model, tokenizer, [(names[r["target"]], r["question"]) for r in valid], batch_size)
    for r, score in zip(valid, scores):
        r["judge"] = score
        if score < min_score:
            r["status"], r["reason"] = "judged out", f"judge < {min_score}"
    return records


if __name__ == "__main__":
    main()
