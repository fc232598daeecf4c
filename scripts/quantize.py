"""Merge a trained reranker's LoRA adapter into its full-precision base and quantise the merged
model to 4-bit weights (GPTQ or AWQ, W4A16, llmcompressor), calibrated on the task's own prompts: a
model folder vLLM serves on Kaggle's 2 x T4 (and rerank.py loads) as it is.

\b
Reads  MODEL          a reranker folder written by train_reranker.py (reranker.json + LoRA
                      adapter), e.g. models/<dataset>/qwen32b/all; its base model (HF id or
                      folder) is loaded in full precision, never 4-bit
       TRAIN          train_long.parquet: the rows whose prompts calibrate the quantisation
       MISCONCEPTIONS misconceptions.parquet (candidate names)
       RANKING        a ranking of train (the retriever's): each row's top N candidates (and
                      its gold) make the calibration prompts, as the reranker sees them
       FOLDS + FOLD   a CV adapter's quantisation: calibrate on the rows outside fold FOLD
                      only, never on the rows that adapter scores
Writes OUT/           e.g. models/<dataset>/qwen32b.w4a16/all/: compressed-tensors weights
                      (packed int4 + group scales; lm_head kept; the MLP zero-padded to whole
                      groups per GPU where vLLM's tensor parallelism needs it: --tensor-parallel),
                      config.json, tokenizer,
                      reranker.json (model = OUT itself, no adapter, quantize_4bit false) and
                      train.json (the quantisation's stats + the adapter's training stats),
                      written last. OUT is complete or absent: built in a temp folder beside it

Use it as any reranker folder: rerank.py --model OUT (--engine hf | vllm), make push-weights
MODEL=qwen32b.w4a16. Bad input, or a base vLLM could not serve once quantised, stops before any
model is loaded. See eedi/rerank/quantization.py.
"""

import time
from pathlib import Path

import click

from eedi.defaults import SEED
from eedi.folds import rows_outside_fold
from eedi.long_table import misconception_names
from eedi.ranking import read_ranking
from eedi.registry import Reranker
from eedi.rerank.prompt import prompt_builder
from eedi.rerank.quantization import (METHODS, N_CALIBRATION, SCHEMES, calibration_samples,
                                      check_servable, merge_adapter, quantization_stats, quantize,
                                      save_quantized, serving_tensor_parallel)
from eedi.rerank.reranker import load_tokenizer, reranker_spec
from eedi.rerank.reranking import queries_of
from eedi.run_log import log, setup_logging, step_timer

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command(help=__doc__)
@click.option("--model", "model_dir", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A trained reranker folder (reranker.json + adapter), e.g. models/<ds>/qwen32b/all.")
@click.option("--train", "train_path", type=FILE, required=True,
              help="train_long.parquet: calibration rows.")
@click.option("--misconceptions", type=FILE, required=True)
@click.option("--ranking", "ranking_path", type=FILE, required=True,
              help="A ranking of train: calibration candidates (top N + gold per row).")
@click.option("--folds", "folds_path", type=FILE, help="Folds Parquet (with --fold).")
@click.option("--fold", type=int, help="Calibrate on the rows outside this fold (needs --folds).")
@click.option("--scheme", type=click.Choice(SCHEMES), default="W4A16", show_default=True,
              help="llmcompressor preset: int4 (symmetric / asymmetric) or int8 weights, "
              "groups of 128.")
@click.option("--method", type=click.Choice(METHODS), default="gptq", show_default=True,
              help="GPTQ, or AWQ (activation-aware scales, then rounding).")
@click.option("--group-size", type=click.IntRange(1),
              help="Weights per scale [the preset's 128]; 64 splits Qwen2.5-72B's MLP over 2 "
              "GPUs in whole groups without padding.")
@click.option("--n-calibration", type=click.IntRange(1), default=N_CALIBRATION, show_default=True,
              help="Calibration prompts (row, candidate), drawn with --seed.")
@click.option("--top-n", type=click.IntRange(1),
              help="Candidates per row to draw calibration prompts from [the spec's top_n].")
@click.option("--tensor-parallel", type=click.IntRange(1),
              help="GPUs vLLM will split the model over [the lcm of the registry entry's vLLM "
              "profiles' tensor_parallel_size]: the MLP is padded to whole groups per GPU.")
@click.option("--seed", type=int, default=SEED, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The quantised model folder to write.")
def main(model_dir, train_path, misconceptions, ranking_path, folds_path, fold, scheme, method,
         group_size, n_calibration, top_n, tensor_parallel, seed, out):
    setup_logging()
    with step_timer("quantize", model=str(model_dir), scheme=scheme) as record:
        # 1. inputs, checked before any model is loaded: a trained reranker folder, an output
        #    elsewhere, calibration rows that exist, a base vLLM can serve once quantised
        if not (model_dir / Reranker.SPEC_FILE).is_file():
            raise click.BadParameter(f"{model_dir} has no {Reranker.SPEC_FILE}: not a reranker "
                                     "folder written by train_reranker.py", param_hint="--model")
        spec = reranker_spec(str(model_dir))
        if not spec.adapter:
            raise click.BadParameter(f"{model_dir}/{Reranker.SPEC_FILE} names no adapter: "
                                     "nothing to merge (already a served model?)",
                                     param_hint="--model")
        source, target = model_dir.resolve(), out.resolve()
        if target == source or source in target.parents or target in source.parents:
            raise click.BadParameter(f"{out} overlaps the model folder {model_dir}",
                                     param_hint="--out")
        ranking = read_ranking(ranking_path)
        rows = queries_of(ranking, ranking_path, train_path)
        if fold is not None:
            if folds_path is None:
                raise click.UsageError("--fold needs --folds")
            rows = rows_outside_fold(rows, folds_path, fold)
            ranking = ranking[ranking["QuestionId_Answer"].isin(rows.index)]
        names = misconception_names(misconceptions)
        prompts = prompt_builder(spec, load_tokenizer(spec), str(model_dir))
        samples = calibration_samples(rows, ranking, names, prompts, n_calibration,
                                      top_n or spec.top_n, seed, ranking_path,
                                      window=spec.window if spec.listwise else None)
        # vLLM must be able to split the result over the registry's GPUs (qwen32b: 2 T4s);
        # the base's config says whether padding the MLP is needed or enough
        tensor_parallel = tensor_parallel or serving_tensor_parallel(spec)
        check_servable(spec, scheme, tensor_parallel, group_size)

        # 2. merge into the full-precision base, 3. GPTQ or AWQ, 4. write OUT whole
        seconds = {}
        start = time.time()
        model = merge_adapter(spec)
        seconds["merge"] = time.time() - start
        start = time.time()
        serving = quantize(model, samples, scheme, tensor_parallel, method, group_size)
        seconds["quantize"] = time.time() - start
        stats = quantization_stats(model_dir, spec, scheme, samples, seconds, serving, method)
        save_quantized(model, prompts.tokenizer, spec, out, stats)
        record.update(calibration_samples=len(samples), merge_seconds=round(seconds["merge"], 1),
                      quantize_seconds=round(seconds["quantize"], 1))
        log.info("wrote %s (%s, %d calibration prompts): rerank.py --model %s", out, scheme,
                 len(samples), out)


if __name__ == "__main__":
    main()
