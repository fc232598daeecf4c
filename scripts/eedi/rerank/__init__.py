"""Reranking: an LLM asked "does this misconception explain the wrong answer?", its
logit(Yes) - logit(No) reordering a retriever's top N (pointwise), or asked which of a window of
labelled candidates does, its label logits reordering the window (listwise).

    prompt             the reranker's Yes/No prompt as token ids (shared prefix + suffixes)
    reranker           loading a (Q)LoRA reranker (GGUF conversion, adapters)
    yes_no_scoring     logit(Yes) - logit(No): naive and prefix-reuse scoring
    reranker_training  fine-tuning the reranker (group / BCE loss, transformers' Trainer)
    reranking          reranking a ranking's top N, per fold, by shards
    quantization       merging the adapter into the full-precision base; GPTQ 4-bit for serving
    vllm_env           vLLM's CPU environment variables
    vllm_scoring       the vLLM engine twin of yes_no_scoring (.venv-vllm only)
    listwise           listwise reranking's arithmetic: one-token labels, sliding windows,
                       reversed-order averaging
    listwise_scoring   a listwise prompt's label logits (HF), rows reranked by sliding windows
                       (rerank_rows), the training loss (prompt.ListPromptBuilder: the prompt;
                       reranker_training.ListwiseTrainer; vllm_scoring.label_logprobs)
"""
