"""Score token-id rows with vLLM, with the base model and/or LoRA adapters; write JSON.

Runs in the .venv-vllm environment (`make setup-vllm`); tests and `bench_rerank.py` call it as a
subprocess, since vLLM wants its engine created under `if __name__ == "__main__":`.

\b
Reads  ROWS   JSON {"yes_no": [yes, no], "rows": [[prefix_ids, [suffix_ids, ...]], ...]} and
              optionally "warmup": more rows, scored once (untimed) before the timed runs;
              or listwise {"label_ids": [...], "windows": [prompt_ids, ...], "sizes": [...]}:
              each window's label logprobs
Writes OUT    JSON {"startup_s": s, "runs": [{"adapter": null | A, "seconds": s, "pairs": n,
              "scores": [[...per row]]}, ...], "seconds": .., "scores": ..} (the last two:
              the first run's)

    .venv-vllm/bin/python scripts/vllm_score.py --rows rows.json --model M --max-length 256 \\
        --adapter A --out scores.json
"""

import json
import time
from pathlib import Path

import click

from eedi.rerank.vllm_scoring import VllmScorer, lora_rank


@click.command(help=__doc__)
@click.option("--rows", "rows_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help='JSON: {"yes_no": [yes, no], "rows": [[prefix, [suffix, ...]]]}')
@click.option("--model", required=True, help="Base model: HF folder or id.")
@click.option("--max-length", type=click.IntRange(1), required=True)
@click.option("--adapter", "adapters", multiple=True,
              help="peft LoRA folder to score with (repeatable); each is one more run.")
@click.option("--base/--no-base", default=True, show_default=True,
              help="Also score with the base model (no adapter).")
@click.option("--dtype", default="auto", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(rows_path: Path, model: str, max_length: int, adapters: tuple[str, ...], base: bool,
         dtype: str, out_path: Path) -> None:
    job = json.loads(rows_path.read_text())
    listwise = "windows" in job
    rows = [] if listwise else [(prefix, suffixes) for prefix, suffixes in job["rows"]]
    rank = max((lora_rank(a) for a in adapters), default=None)
    scorer = VllmScorer(model, max_length, max_lora_rank=rank, dtype=dtype)
    todo = ([None] if base else []) + list(adapters)
    if job.get("warmup") and todo:  # first calls pay for kernel set-up and adapter loading
        scorer.score([(p, s) for p, s in job["warmup"]], job["yes_no"], adapter=todo[0])
    runs = []
    for adapter in todo:
        started = time.perf_counter()
        if listwise:
            scores = scorer.label_logprobs(job["windows"], job["label_ids"], job["sizes"],
                                           adapter=adapter)
        else:
            scores = scorer.score(rows, job["yes_no"], adapter=adapter)
        seconds = time.perf_counter() - started
        runs.append({"adapter": adapter, "seconds": seconds, "pairs": sum(map(len, scores)),
                     "scores": [s.tolist() for s in scores]})
        click.echo(f"{adapter or 'base'}: {runs[-1]['pairs']} pairs in {seconds:.2f} s", err=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    first = runs[0] if runs else {"seconds": 0.0, "scores": []}
    out_path.write_text(json.dumps({"startup_s": scorer.startup_s, "runs": runs,
                                    "seconds": first["seconds"], "scores": first["scores"]}))


if __name__ == "__main__":
    main()
