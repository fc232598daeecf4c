"""The Eedi pipeline's library: one concept per module, imported by the thin Click commands in
`scripts/` (one per Make stage), by the tests, and by the Kaggle notebook.

Importing the package imports nothing heavy; each module imports what it needs.

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
    negatives      hard negatives mined from a ranking, topped up to a fixed count
    cli            Click options several commands share (the trainers' data and negatives)
    registry       every model by name with the settings that fit it
    model_folder   a trained model's folder: settings file, temp-rename save, resume, 4-bit
    precision      the float type by device (fp32 CPU, bf16 from Ampere, fp16 on a T4)
    tfidf          TF-IDF retrieval (character n-grams)
    embedding      bi-encoder loading, encoding, embedding cache, faiss search
    training_args  the Trainer settings both trainers share; train.json's run stats
    retriever_training  fine-tuning a bi-encoder (sentence-transformers trainer)
    prompt         the reranker's Yes/No prompt as token ids (shared prefix + suffixes)
    reranker       loading a (Q)LoRA reranker (GGUF conversion, adapters)
    yes_no_scoring logit(Yes) - logit(No): naive and prefix-reuse scoring
    reranker_training  fine-tuning the reranker (group / BCE loss, transformers' Trainer)
    reranking      reranking a ranking's top N, per fold, by shards
    quantization   merging the adapter into the full-precision base; GPTQ 4-bit for serving
    vllm_env       vLLM's CPU environment variables
    vllm_scoring   the vLLM engine twin of yes_no_scoring (.venv-vllm only)
    kaggle_cli     the kaggle CLI: credentials, executable, running it
    kaggle_dataset a folder staged and pushed as a Kaggle dataset (weights, code), its record
    wheels         the wheels the offline notebook installs, downloaded for Kaggle's Python
    kaggle_kernel  the notebook folder's metadata checks, its sources looked up, pushed versions
    kaggle_submissions  polling a competition's submissions until scored; the elapsed time
    kaggle_inputs  finding the competition, code, weights and wheels under /kaggle/input
    kernel_plan    the notebook's plan: the test-side stage commands Make runs, in order
    kernel_notebook  the notebook (nbformat) and kernel-metadata.json
    time_budget    the notebook's time guard: will the stages left fit the limit?
    fusion         rank fusion of several rankings, weights tuned out-of-fold on MAP@25
    boost          the unseen-misconception boost, its constant tuned out-of-fold
    cascade        a later stage reordering only an earlier one's top N; the trade-off table
    report         the CV report's figures (matplotlib) and HTML page
"""
