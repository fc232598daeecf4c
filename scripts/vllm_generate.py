"""Sample the synthetic-question writer's prompts with vLLM, chunk by chunk; one file per chunk.

Runs in the .venv-vllm environment (`make setup-vllm`): synth.py --engine vllm starts it once
for all the chunks it has not finished (vLLM wants its engine created under
`if __name__ == "__main__":`, and pins its own torch and transformers).

\b
Reads  JOB      JSON {"model": base folder or HF id, "max_model_len": n, "engine_args": {...},
                "quantize_4bit": bool, "max_new_tokens": n, "temperature": t, "top_p": p,
                "chunks": [{"key": k, "seed": s, "prompts": [[token ids], ...]}, ...]}
Writes OUT_DIR/<key>.texts.json   per chunk as it finishes (temp file + rename): its texts,
                PREFILL + each continuation, in prompt order; a chunk whose file exists is
                skipped, so a killed run loses at most the chunk it was writing

    .venv-vllm/bin/python scripts/vllm_generate.py --job job.json --out-dir synth.csv.parts
"""

import json
import time
from pathlib import Path

import click

from eedi.files import write_text
from eedi.synth.vllm_writing import VllmWriter


@click.command(help=__doc__)
@click.option("--job", "job_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(job_path: Path, out_dir: Path) -> None:
    job = json.loads(job_path.read_text())
    todo = [c for c in job["chunks"] if not (out_dir / f"{c['key']}.texts.json").is_file()]
    if not todo:
        return
    started = time.perf_counter()
    writer = VllmWriter(job["model"], job["max_model_len"], engine_args=job.get("engine_args"),
                        quantize_4bit=job.get("quantize_4bit", False),
                        seed=job["chunks"][0]["seed"])  # the engine's (CPU: no per-prompt seeds)
    click.echo(f"vLLM writer up in {time.perf_counter() - started:.1f} s", err=True)
    for chunk in todo:
        texts = writer.generate(chunk["prompts"], chunk["seed"], job["max_new_tokens"],
                                job["temperature"], job["top_p"])
        write_text(json.dumps(texts), out_dir / f"{chunk['key']}.texts.json")


if __name__ == "__main__":
    main()
