"""Scoring listwise prompts: each candidate's label logit at the answer position.

    prompts = ListPromptBuilder(tokenizer, max_length=1024)
    logits = label_logits(model, [prompts.encode_window(row, window)], prompts.label_ids, pad_id)
    # logits[0][j]: the logit of window[j]'s label; higher = the model's pick
    score = window_scorer(model, prompts, row)          # names -> logits, for listwise.slide
    order, scores = slide(names, score, size=10, stride=5, reverse_too=True)
    scores = rerank_rows([(row, names), ...], prompts, spec, logits_of)
    # per row, scores in its candidates' order (rank-derived: n, n - 1, ...), every row's k-th
    # window in one batch, each row's prompt prefix run once for its windows (both orders)

One forward per window (left-padded batches, only the last position through the LM head).
Training reads the same logits: listwise_loss is the cross-entropy of a window's label logits
against the gold's label.
"""

from __future__ import annotations

import numpy as np
import torch

from eedi.rerank.yes_no_scoring import _device, _positions, pad


def last_label_logits(model, input_ids, attention_mask, label_ids: list[int]) -> torch.Tensor:
    """(batch, len(label_ids)) logits of the labels at the last position of each left-padded
    prompt; differentiable (training's forward). Only the last position goes through the LM
    head."""
    last = model(input_ids=input_ids, attention_mask=attention_mask,
                 position_ids=_positions(attention_mask), use_cache=False,
                 logits_to_keep=1).logits[:, -1, :].float()
    return last[:, label_ids]


@torch.inference_mode()
def label_logits(model, sequences: list[list[int]], label_ids: list[int], pad_id: int,
                 sizes: list[int] | None = None, batch_size: int = 8) -> list[np.ndarray]:
    """For each listwise prompt, the logits of its first `size` labels at its last position.

    sequences: token ids, one prompt per window; sizes: candidates per window (default: all
    labels). Prompts are batched by length (left-padded). Out: one float32 array per window,
    in label (= candidate) order."""
    device = _device(model)
    sizes = sizes or [len(label_ids)] * len(sequences)
    out: list[np.ndarray] = [None] * len(sequences)
    order = np.argsort([len(s) for s in sequences], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = pad([sequences[i] for i in idx], pad_id, "left")
        picked = last_label_logits(model, ids.to(device), mask.to(device), label_ids).cpu().numpy()
        for row, i in enumerate(idx):
            out[i] = picked[row, :sizes[i]]
    return out


@torch.inference_mode()
def label_logits_prefix_reuse(model, groups: list[tuple[list[int], list[list[int]]]],
                              label_ids: list[int], pad_id: int, sizes: list[list[int]],
                              windows_per_batch: int = 8, progress: bool = False
                              ) -> list[list[np.ndarray]]:
    """label_logits for each row's windows, its shared prefix run once: groups are
    ListPromptBuilder.encode_windows' (prefix, [suffix per window]); rows of similar prefix
    length share a prefix batch (right-padded, KV cache on), their windows run in chunks of
    windows_per_batch on the gathered cache (yes_no_scoring's machinery). Equal to label_logits
    on prefix + suffix up to float rounding (tested). Out: per row, per window, its first
    `size` label logits."""
    from eedi.rerank.yes_no_scoring import (PREFIX_BATCH_PAIRS, prefix_batches, prefix_cache,
                                            suffix_last_logits)
    device = _device(model)
    out = [[None] * len(suffixes) for _, suffixes in groups]
    batches = prefix_batches(groups, PREFIX_BATCH_PAIRS * windows_per_batch)
    from tqdm import tqdm
    for batch in tqdm(batches, desc="windows", unit="batch", disable=not progress, leave=False):
        batch = [r for r in batch if groups[r][1]]
        if not batch:
            continue
        prefix_ids, prefix_mask = pad([groups[r][0] for r in batch], pad_id, "right")
        prefix_mask = prefix_mask.to(device)
        cache = prefix_cache(model, prefix_ids.to(device), prefix_mask)
        pairs = sorted(((b, j) for b, r in enumerate(batch) for j in range(len(groups[r][1]))),
                       key=lambda bj: len(groups[batch[bj[0]]][1][bj[1]]))
        for start in range(0, len(pairs), windows_per_batch):
            chunk = pairs[start:start + windows_per_batch]
            suffix_ids, suffix_mask = pad([groups[batch[b]][1][j] for b, j in chunk], pad_id, "left")
            owner = torch.tensor([b for b, _ in chunk], device=device)
            logits = suffix_last_logits(model, cache, prefix_mask, suffix_ids.to(device),
                                        suffix_mask.to(device), owner, label_ids).cpu().numpy()
            for (b, j), row in zip(chunk, logits):
                out[batch[b]][j] = row[:sizes[batch[b]][j]]
    return out


def rerank_rows(items: list[tuple], prompts, spec, logits_of) -> list[np.ndarray]:
    """Listwise scores of each row's candidates: windows of spec.window slid back to front
    spec.stride apart (both orders when spec.both_orders), batched across rows per step.

    items: [(row, [candidate names, best first])]; logits_of(groups, sizes) -> per group, one
    array of label logits per window, where groups are each row's (prefix, [suffix per
    window]) of this step (ListPromptBuilder.encode_windows) and sizes the windows' lengths:
    label_logits_prefix_reuse on a model, or vLLM's label logprobs of prefix + suffix.
    Out: per row, scores in its candidates' order (n for the new first, n - 1 next, ...)."""
    from eedi.rerank.listwise import rank_scores, slide_rows

    def score_windows(asks):
        by_row: dict[int, list[int]] = {}
        for i, (r, _) in enumerate(asks):
            by_row.setdefault(r, []).append(i)
        rows = list(by_row)
        groups = [prompts.encode_windows(items[r][0], [[items[r][1][j] for j in asks[i][1]]
                                                       for i in by_row[r]]) for r in rows]
        sizes = [[len(asks[i][1]) for i in by_row[r]] for r in rows]
        logits = logits_of(groups, sizes)
        out = [None] * len(asks)
        for r, row_logits in zip(rows, logits):
            for i, window_logits in zip(by_row[r], row_logits):
                out[i] = window_logits
        return out

    orders = slide_rows([range(len(names)) for _, names in items], score_windows, spec.window,
                        spec.stride, spec.both_orders)
    return [rank_scores(len(names), order) for (_, names), order in zip(items, orders)]


def window_scorer(model, prompts, row, pad_id: int | None = None):
    """A `score(window of candidate names) -> logits` for eedi.rerank.listwise.slide: one
    forward of `row`'s listwise prompt over that window."""
    pad_id = prompts.pad_id if pad_id is None else pad_id

    def score(window: list[str]) -> np.ndarray:
        [logits] = label_logits(model, [prompts.encode_window(row, list(window))],
                                prompts.label_ids, pad_id, sizes=[len(window)])
        return logits
    return score


def listwise_loss(logits: torch.Tensor, gold_at: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each window's label logits (batch, window) against the gold's
    position (batch,): the listwise reranker's training loss."""
    return torch.nn.functional.cross_entropy(logits.float(), gold_at)
