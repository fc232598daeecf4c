"""Scoring (row, candidate) prompts by logit("Yes") - logit("No") at the last position.

    model = load_model(spec)
    naive = score_naive(model, [prefix + s for s in suffixes], prompts.yes_no, prompts.pad_id)
    [scores] = score_prefix_reuse(model, [(prefix, suffixes)], prompts.yes_no, prompts.pad_id)
    # scores[j] = logit("Yes") - logit("No") after prefix + suffixes[j]; higher = more likely;
    # equal to naive up to float rounding, at a fraction of the cost

Training shares each group's prefix too, packed: `pack_groups` puts a prefix and all its
suffixes in one sequence with a mask that lets each suffix see the prefix and itself only, and
`packed_margin` reads each suffix's last position: one forward and no KV cache, so it works
with gradient checkpointing (which turns the cache off).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

# A prefix batch holds up to this many times pairs_per_batch (row, candidate) pairs: more rows
# to sort suffixes across, while the prefixes' cache stays small (a row's, not a pair's).
PREFIX_BATCH_PAIRS = 4


def _positions(mask: torch.Tensor, start: torch.Tensor | int = 0) -> torch.Tensor:
    """Position ids that skip padding: 0, 1, 2 ... over the real tokens (+ start)."""
    return (mask.cumsum(-1) - 1).clamp(min=0) + (start[:, None] if torch.is_tensor(start) else start)


def pad(sequences: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to one length: (ids, mask). Left padding puts every last token at position -1."""
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        if side == "left":
            ids[i, width - len(s):], mask[i, width - len(s):] = torch.tensor(s), 1
        else:
            ids[i, :len(s)], mask[i, :len(s)] = torch.tensor(s), 1
    return ids, mask


def yes_no_margin(model, input_ids, attention_mask, yes_no, position_ids=None,
                  past_key_values=None) -> torch.Tensor:
    """logit(Yes) - logit(No) at the last position of each (left-padded) sequence.

    Only the last position goes through the LM head (logits_to_keep=1): with a 150k-token
    vocabulary the full logits would be most of the memory.
    """
    if position_ids is None:
        position_ids = _positions(attention_mask)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                past_key_values=past_key_values, use_cache=past_key_values is not None,
                logits_to_keep=1)
    last = out.logits[:, -1, :].float()
    return last[:, yes_no[0]] - last[:, yes_no[1]]


def prefix_reuse_margin(model, prefix_ids, prefix_mask, suffix_ids, suffix_mask, owner,
                        yes_no) -> torch.Tensor:
    """logit(Yes) - logit(No) of each suffix, continuing the prefix of row owner[i].

    The prefixes (right-padded) run once with the KV cache on; the cache is gathered once per
    suffix and the suffixes (left-padded) run on top of it, with position ids that continue
    each prefix. Differentiable: training uses it too (without gradient checkpointing, which
    turns the cache off).
    """
    cache = prefix_cache(model, prefix_ids, prefix_mask)
    return suffix_margin(model, cache, prefix_mask, suffix_ids, suffix_mask, owner, yes_no)


def prefix_cache(model, prefix_ids, prefix_mask):
    """The KV cache of the (right-padded) prefixes, one batch entry per row."""
    return model(input_ids=prefix_ids, attention_mask=prefix_mask,
                 position_ids=_positions(prefix_mask), use_cache=True,
                 logits_to_keep=1).past_key_values


def suffix_margin(model, cache, prefix_mask, suffix_ids, suffix_mask, owner, yes_no) -> torch.Tensor:
    """The margins of suffixes continuing the prefixes owner[i] of `cache`, which is left as it
    was (its layers are copied before the gather), so one prefix cache serves many chunks."""
    last = suffix_last_logits(model, cache, prefix_mask, suffix_ids, suffix_mask, owner, yes_no)
    return last[:, 0] - last[:, 1]


def suffix_last_logits(model, cache, prefix_mask, suffix_ids, suffix_mask, owner,
                       token_ids) -> torch.Tensor:
    """(n suffixes, len(token_ids)) logits at the last position of suffixes (left-padded)
    continuing the prefixes owner[i] of `cache` (left as it was): Yes/No for the pointwise
    reranker, the window's labels for the listwise one."""
    chunk = copy.copy(cache)
    chunk.layers = [copy.copy(layer) for layer in cache.layers]  # gathering replaces tensors
    chunk.batch_select_indices(owner)
    mask = torch.cat([prefix_mask[owner], suffix_mask], dim=1)
    positions = _positions(suffix_mask, start=prefix_mask.sum(-1)[owner])
    out = model(input_ids=suffix_ids, attention_mask=mask, position_ids=positions,
                past_key_values=chunk, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1, :].float()[:, list(token_ids)]


def pack_groups(groups: list[tuple[list[int], list[list[int]]]], pad_id: int) -> dict:
    """[(prefix ids, [suffix ids, ...])], the same number of suffixes each -> one packed,
    right-padded sequence per group: prefix, suffix 1, suffix 2, ...

    Returns input_ids (b, L), attention_mask (b, 1, L, L) bool (True: query may attend to key;
    causal, and a suffix's tokens see the prefix and their own suffix only), position_ids (each
    suffix continues the prefix: what it would get after its own copy of the prefix) and last
    (b, k): the index of each suffix's last token. A group costs prefix + suffixes tokens, not
    k x (prefix + suffix).
    """
    width = max(len(p) + sum(map(len, ss)) for p, ss in groups)
    ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(groups), width), dtype=torch.long)
    segment = torch.full((len(groups), width), -1, dtype=torch.long)  # 0 prefix, j suffix j, -1 pad
    last = []
    for i, (prefix, suffixes) in enumerate(groups):
        n = len(prefix)
        ids[i, :n], positions[i, :n], segment[i, :n] = torch.tensor(prefix), torch.arange(n), 0
        start, ends = n, []
        for j, suffix in enumerate(suffixes, 1):
            end = start + len(suffix)
            ids[i, start:end] = torch.tensor(suffix)
            positions[i, start:end] = torch.arange(n, n + len(suffix))
            segment[i, start:end] = j
            ends.append(end - 1)
            start = end
        last.append(ends)
    query, key = segment[:, :, None], segment[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    # padding queries see the prefix (no all-masked rows: softmax would give NaN)
    mask = causal & (key >= 0) & ((key == 0) | (key == query))
    return {"input_ids": ids, "attention_mask": mask[:, None], "position_ids": positions,
            "last": torch.tensor(last)}


def packed_margin(model, input_ids, attention_mask, position_ids, last, yes_no) -> torch.Tensor:
    """logit(Yes) - logit(No) of every suffix of pack_groups' sequences, group after group (b x k).

    Only the suffixes' last positions go through the LM head (logits_to_keep: their indices).
    The mask goes to the attention as it is: bool for SDPA, additive for eager attention.
    """
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", "sdpa") == "eager":
        attention_mask = torch.zeros(attention_mask.shape, device=attention_mask.device).masked_fill(
            ~attention_mask, torch.finfo(torch.float32).min)
    keep = torch.unique(last)  # sorted
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                use_cache=False, logits_to_keep=keep)
    where = torch.searchsorted(keep, last)  # (b, k) -> columns of out.logits
    picked = out.logits[torch.arange(len(last), device=last.device)[:, None], where].float()
    return (picked[..., yes_no[0]] - picked[..., yes_no[1]]).reshape(-1)


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def score_naive(model, sequences: list[list[int]], yes_no, pad_id: int,
                batch_size: int = 16) -> np.ndarray:
    """Score full sequences (prefix + suffix each), batched by length: the reference."""
    device = _device(model)
    order = np.argsort([len(s) for s in sequences], kind="stable")
    scores = np.empty(len(sequences), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = pad([sequences[i] for i in idx], pad_id, "left")
        scores[idx] = yes_no_margin(model, ids.to(device), mask.to(device), yes_no).cpu().numpy()
    return scores


def prefix_batches(rows: list[tuple[list[int], list]], limit: int) -> list[list[int]]:
    """Row indices grouped for one prefix pass each: rows sorted by prefix length (stable), a
    group closed before its suffixes would pass `limit` (a row alone may exceed it)."""
    batches, batch, count = [], [], 0
    for r in np.argsort([len(p) for p, _ in rows], kind="stable"):
        n = len(rows[r][1])
        if batch and count + n > limit:
            batches.append(batch)
            batch, count = [], 0
        batch.append(int(r))
        count += n
    if batch:
        batches.append(batch)
    return batches


@torch.inference_mode()
def score_prefix_reuse(model, rows: list[tuple[list[int], list[list[int]]]], yes_no, pad_id: int,
                       pairs_per_batch: int = 64, progress: bool = False) -> list[np.ndarray]:
    """Score each row's candidates, running its shared prefix through the model once.

    rows: [(prefix ids, [suffix ids per candidate])]. Rows of similar prefix length are batched
    (up to PREFIX_BATCH_PAIRS x pairs_per_batch candidates a batch): their prefixes run
    right-padded with the KV cache on; then their candidates, sorted by suffix length, run in
    chunks of pairs_per_batch, each gathering the cache once per candidate and running its
    left-padded suffixes on top of it with position ids that continue each prefix. Equals score_naive up to float
    rounding (tested), at a fraction of the cost when a row has many candidates.
    Out: one array of scores per row, in candidate order.
    """
    from tqdm import tqdm
    device = _device(model)
    out = [np.empty(len(s), dtype=np.float32) for _, s in rows]
    # Rows of similar prefix length share one prefix batch of up to PREFIX_BATCH_PAIRS pairs;
    # its pairs then run in chunks of pairs_per_batch, sorted by suffix length: candidate names
    # run from 3 to 40+ tokens, and a chunk is padded to its longest suffix, so mixing them
    # would pad the per-candidate work (all that is left after the prefix) ~2x.
    batches = prefix_batches(rows, PREFIX_BATCH_PAIRS * pairs_per_batch)
    for batch in tqdm(batches, desc="rerank", unit="batch", disable=not progress):
        batch = [r for r in batch if rows[r][1]]
        if not batch:
            continue
        prefix_ids, prefix_mask = pad([rows[r][0] for r in batch], pad_id, "right")
        prefix_mask = prefix_mask.to(device)
        cache = prefix_cache(model, prefix_ids.to(device), prefix_mask)
        pairs = [(b, j) for b, r in enumerate(batch) for j in range(len(rows[r][1]))]
        pairs.sort(key=lambda bj: len(rows[batch[bj[0]]][1][bj[1]]))
        for start in range(0, len(pairs), pairs_per_batch):
            chunk = pairs[start:start + pairs_per_batch]
            suffix_ids, suffix_mask = pad([rows[batch[b]][1][j] for b, j in chunk], pad_id, "left")
            owner = torch.tensor([b for b, _ in chunk], device=device)
            scores = suffix_margin(model, cache, prefix_mask, suffix_ids.to(device),
                                   suffix_mask.to(device), owner, yes_no).float().cpu().numpy()
            for (b, j), score in zip(chunk, scores):
                out[batch[b]][j] = score
    return out
