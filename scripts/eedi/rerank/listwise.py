"""Listwise reranking's arithmetic: labelled candidates, sliding windows, reversed-order averaging.

A listwise prompt shows a row's candidates W at a time, each behind a one-token label, and asks
for the label of the one that explains the wrong answer; each candidate's score is its label's
logit at the answer position. The model call is any `score(window) -> logits`, one per
candidate of the window in the order shown; everything here is plain Python and numpy:

    labels(12)                                     # ["1", ..., "9", "A", "B", "C"]
    label_ids(tokenizer, labels(35), "qwen32b")    # one token id each, or a clear error
    windows(25, size=10, stride=5)                 # [(15, 25), (10, 20), (5, 15), (0, 10)]
    both_orders(score, window)                     # mean of the window's logits shown as it is
                                                   # and reversed (cancels the position bias)
    order, scores = slide(candidates, score, size=10, stride=5)
    orders = slide_rows(rows, score_windows, size=10, stride=5)   # many rows, batched per step
    # back to front: each window is re-sorted by its logits, so the best candidates bubble up
    # into the next window; the final order's scores fall with rank (fusion reads ranks)
    window, gold_at = training_window(gold, negatives, size=10, rng=rng)
    # training: the gold among size - 1 hard negatives, in a shuffled order; the loss is the
    # cross-entropy of the window's label logits against gold_at (listwise_scoring.listwise_loss)

Labels: 1st place's last stage read 5 candidates, 3rd place 35 labelled 1-9 then A-Z, 5th place
52 in two windows; 2nd place slid a window over ranks 8-17 and averaged a reversed pass.
"""

from __future__ import annotations

import string
from typing import Callable, Sequence

import click
import numpy as np

LABELS = list("123456789") + list(string.ascii_uppercase)   # 35: 3rd place's set


def labels(n: int) -> list[str]:
    """The first n labels: digits 1-9, then A-Z."""
    if not 1 <= n <= len(LABELS):
        raise ValueError(f"a listwise window holds 1 to {len(LABELS)} candidates, not {n}")
    return LABELS[:n]


def label_ids(tokenizer, names: Sequence[str], model: str = "the model") -> list[int]:
    """Each label's token id as the answer would begin ("A", no space before it): a label must
    be exactly one token, and no two labels the same token, or its logit is no score."""
    ids = []
    for name in names:
        tokens = tokenizer.encode(name, add_special_tokens=False)
        if len(tokens) != 1:
            raise click.ClickException(f"{model}: label {name!r} is {len(tokens)} tokens {tokens} "
                                       "for its tokenizer; a listwise label must be one token")
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise click.ClickException(f"{model}: two labels share a token ({ids})")
    return ids


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) windows over n ranked candidates, last first, `stride` apart, the first
    window always [0, min(size, n)): every candidate is seen, and the top ones last."""
    if size < 1 or stride < 1:
        raise ValueError("window size and stride are at least 1")
    if stride > size:
        raise ValueError(f"stride {stride} > window {size}: candidates between windows never "
                         "move up")
    if n <= size:
        return [(0, n)] if n else []
    starts = list(range(n - size, 0, -stride))
    return [(s, s + size) for s in starts] + [(0, size)]


def both_orders(score: Callable[[list], np.ndarray], window: list) -> np.ndarray:
    """The window's logits averaged over the order shown and its reverse, per candidate (not
    per label): a model that favours early (or late) labels favours every candidate once."""
    forward = np.asarray(score(list(window)), dtype=float)
    backward = np.asarray(score(list(window)[::-1]), dtype=float)[::-1]
    return (forward + backward) / 2


def slide(candidates: Sequence, score: Callable[[list], np.ndarray], size: int, stride: int,
          reverse_too: bool = False) -> tuple[list, np.ndarray]:
    """Rerank `candidates` (best first by the retriever) with windows back to front.

    Each window is sorted by its logits (stable: ties keep the retriever's order) and written
    back, so a strong candidate found low climbs into the next window. Out: (the candidates in
    the new order, scores falling with rank: len - rank, so fusion and MAP read the order).
    reverse_too: each window scored by both_orders.
    """
    [order] = slide_rows([candidates], lambda asks: [score(w) for _, w in asks], size, stride,
                         reverse_too)
    return order, np.arange(len(order), 0, -1, dtype=float)


def slide_rows(rows: Sequence[Sequence], score_windows: Callable[[list], list], size: int,
               stride: int, reverse_too: bool = False) -> list[list]:
    """slide() for many rows in lockstep, so a model call batches windows across rows (a row's
    windows are sequential: each starts from the previous one's order).

    rows: each row's candidates, best first. score_windows([(row index, window), ...]) -> one
    logits array per window, in its order shown; step k asks for every row's k-th window (and,
    reverse_too, each of them reversed, in the same call). Out: each row's candidates in the
    new order."""
    orders = [list(c) for c in rows]
    plans = [windows(len(o), size, stride) for o in orders]
    for step in range(max(map(len, plans), default=0)):
        jobs = [(r, plans[r][step]) for r in range(len(orders)) if step < len(plans[r])]
        shown = [(r, orders[r][start:end]) for r, (start, end) in jobs]
        asks = shown + ([(r, w[::-1]) for r, w in shown] if reverse_too else [])
        logits = score_windows(asks)
        for i, ((r, (start, end)), (_, window)) in enumerate(zip(jobs, shown)):
            got = np.asarray(logits[i], dtype=float)
            if reverse_too:
                got = (got + np.asarray(logits[len(shown) + i], dtype=float)[::-1]) / 2
            if len(got) != len(window):
                raise ValueError(f"the scorer gave {len(got)} logits for {len(window)} candidates")
            ranked = np.argsort(-got, kind="stable")
            orders[r][start:end] = [window[j] for j in ranked]
    return orders


def rank_scores(n: int, order: Sequence[int]) -> np.ndarray:
    """Scores of candidates 0..n-1 (in the retriever's order) from their new order: n for the
    first, n - 1 for the next, ... (what reranking.reorder_top sorts by)."""
    scores = np.empty(n, dtype=np.float32)
    scores[np.asarray(order, dtype=int)] = np.arange(n, 0, -1)
    return scores


def training_window(gold, negatives: Sequence, size: int, rng: np.random.Generator) -> tuple[list, int]:
    """One training example: the gold and the first size - 1 negatives (hardest first, as the
    retriever ranked them), shuffled so the gold's label is any of the window's. Out: (the
    window, the gold's position in it)."""
    chosen = [gold, *[n for n in negatives if n != gold][:size - 1]]
    order = rng.permutation(len(chosen))
    window = [chosen[i] for i in order]
    return window, int(np.flatnonzero(order == 0)[0])
