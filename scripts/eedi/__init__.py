"""The Eedi pipeline's library: one concept per module, imported by the thin Click commands in
`scripts/` (one per Make stage), by the tests, and by the Kaggle notebook. The core contract
modules sit at the top; each stage of the data flow has a subpackage.

Importing a package imports nothing heavy; each module imports what it needs. (Make leaves the
`__init__.py` files out of every stage's code list: they list modules and change no output.)

    errors         DataError: bad input named by file, column and row
    files          atomic writes (temp file + rename) of Parquet, CSV, JSON, text
    run_log        logging to stderr and the per-run JSONL log of step wall times
    defaults       the few values several stages share (TOP_K, the competition slug, ...)
    kaggle_csv     Kaggle's wide CSVs: columns, validation on read
    long_table     one row per (question, wrong answer); the query text; misconception names
    ranking        the ranking contract every retriever, reranker and ensembler writes
    folds          CV folds, a row's fold, training rows, misconceptions seen in other folds
    metrics        MAP@25 and recall@K from the gold's rank; per-slice CV metrics
    submission     Kaggle's submission.csv: built from a ranking, validated
    options        Click options several commands share (the trainers' data; spec_options: a
                   spec's settings from the registry's field declarations)
    registry       every model by name with the settings that fit it
    model_folder   a trained model's folder: settings file, temp-rename save, resume, 4-bit
    precision      the float type by device (fp32 CPU, bf16 from Ampere, fp16 on a T4)
    negatives      hard negatives mined from a ranking, topped up to a fixed count
    training_args  the Trainer settings both trainers share; train.json's run stats
    report         the CV report's figures (matplotlib) and HTML page

    retrieval/     TF-IDF and bi-encoder retrieval, fine-tuning the bi-encoder
    rerank/        the LLM Yes/No reranker: prompt, scoring (HF, vLLM), training, quantising
    ensemble/      rank fusion, the unseen boost, cascades
    kaggle/        delivery to Kaggle: the CLI, datasets, wheels, the notebook and its plan
    experiments/   a queue of experiments (make experiments): the plan, the summary, NOTIFY
"""

import logging


class _NoKernelHubWarning(logging.Filter):
    """bitsandbytes 0.50 warns, when imported on a CPU with AVX512-BF16, that it cannot fetch a
    faster 4-bit kernel from the Hugging Face Hub ("Failed to load CPU gemm_4bit_forward ... No
    module named 'kernels'"). peft imports it, so every run printed it, 4-bit weights or not;
    offline it can never succeed, and eedi.model_folder.one_cpu_path keeps 4-bit layers on the
    plain path anyway."""

    def filter(self, record):
        return not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward")


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_NoKernelHubWarning())
