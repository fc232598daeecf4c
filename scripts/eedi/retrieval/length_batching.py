"""Batching by length for the retriever's training: the work a step does is its padded tokens,
so rows of similar length go together and each forward pass is cut to its longest real row.

    args = SentenceTransformerTrainingArguments(..., batch_sampler=LengthBucketedSampler)
    loss = LengthSortedMNRL(model)         # MultipleNegativesRankingLoss, the same value

LengthSortedMNRL is the default (the same maths). LengthBucketedSampler is opt-in
(Retriever.batching = "length", --batching length): twice the examples/s on a CPU, but the
real data's 5-fold CV fell from 0.2883 to 0.2678 MAP@25 with it (docs/results.md, "CPU speed"):
rows of one question are alike in length, so they fill batches together.

Measured on the real data (docs/results.md, "CPU speed"): queries run 57-165 tokens (10th-90th
percentile, 256 at most) and misconception names 15 (44 at most), so a random batch of 128 pads
queries to ~2.5x their tokens, and the merged positive + negative names ~2.5x theirs.

LengthBucketedSampler: sentence-transformers' no-duplicates sampler (no misconception twice in
a batch: a repeated gold would be a false in-batch negative) over an order in which each window
of WINDOW_BATCHES batches, drawn at random, is sorted by anchor length; the full batches are
then shuffled and the short ones come last. Each row is in exactly one batch an epoch, and windows drawn anew every epoch keep the
batches, and so the in-batch negatives, changing from epoch to epoch.

LengthSortedMNRL: MNRL whose columns (the anchors; the positives and negatives merged) run
through the model in chunks of rows sorted by length (eedi.precision.sorted_chunk_rows: 16 on a
CPU, 64 on a GPU), each cut to its longest row: the same embeddings, as padding changes nothing
under the attention mask (tested within 1e-5).
"""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers.base.losses.merged_forward import merge_feature_batches
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from eedi.precision import sorted_chunk_rows

# A window of 8 batches sorted by length: padding near that of a full sort (8 bins), while the
# rows of a batch still come from a random eighth-or-so of the data each epoch.
WINDOW_BATCHES = 8


def bucketed_order(lengths: np.ndarray, window: int, generator: torch.Generator) -> np.ndarray:
    """A random permutation of the rows, each consecutive `window` of it sorted by length
    (stable: ties keep their random order)."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    return np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                           for chunk in np.array_split(order, max(1, -(-len(order) // window)))]
                          ) if len(order) else order


class LengthBucketedSampler(NoDuplicatesBatchSampler):
    """No-duplicates batches of rows of similar anchor length, in random order.

    dataset: the trainer's columns (anchor, positive, negative_1..n); the anchor's character
    count stands in for its token count (only the order matters).
    """

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None,
                 generator=None, seed: int = 0):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.generator = generator or torch.Generator()
        self.lengths = np.array([len(text) for text in dataset[dataset.column_names[0]]])

    def _iter_one_pass(self, get_sample_values, has_overlap):
        # the parent's pass, over a length-bucketed order instead of a plain permutation: it
        # fills each batch with the next rows that repeat none of its values
        order = bucketed_order(self.lengths, self.batch_size * WINDOW_BATCHES, self.generator)
        batches = list(_no_duplicate_batches(order, self.batch_size, self.drop_last,
                                             get_sample_values, has_overlap))
        # full batches in random order, the short ones (the last rows, or rows that would have
        # repeated a value) after them, as the parent's pass leaves them: a short batch first
        # would change the step count and, under torchrun, how a batch splits over processes
        full = [b for b in batches if len(b) == self.batch_size]
        for b in torch.randperm(len(full), generator=self.generator).tolist():
            yield full[b]
        yield from (b for b in batches if len(b) < self.batch_size)


def _no_duplicate_batches(order, batch_size, drop_last, get_sample_values, has_overlap):
    """sentence-transformers' no-duplicates pass over a given order: each batch takes the next
    rows, in order, that share no value with it; a row that would is left for a later batch."""
    remaining = [int(i) for i in order]
    while remaining:
        batch, values, left = [], set(), []
        for at, index in enumerate(remaining):
            if len(batch) == batch_size:
                left.extend(remaining[at:])
                break
            sample = get_sample_values(index)
            if has_overlap(sample, values):
                left.append(index)
            else:
                batch.append(index)
                values.update(sample)
        remaining = left
        if len(batch) == batch_size or not drop_last:
            yield batch


def embed_by_length(model, features: dict, chunk: int) -> torch.Tensor:
    """model(features)["sentence_embedding"], run in chunks of rows sorted by real length.

    Right-padded input (an encoder's tokenizer) is cut to each chunk's longest row; left-padded
    input (a decoder LLM's) is only sorted, so no row's positions move.
    """
    mask = features["attention_mask"]
    lengths = mask.sum(dim=1)
    right_padded = bool((mask[:, 0] == 1).all())
    order = torch.argsort(lengths, stable=True)
    outputs = []
    for start in range(0, len(order), chunk):
        rows = order[start:start + chunk]
        width = int(lengths[rows].max()) if right_padded else mask.shape[1]
        part = {k: (v[rows][:, :width] if torch.is_tensor(v) and v.shape[:2] == mask.shape else
                    v[rows] if torch.is_tensor(v) and v.shape[:1] == mask.shape[:1] else v)
                for k, v in features.items()}
        outputs.append(model(part)["sentence_embedding"])
    return torch.cat(outputs)[torch.argsort(order)]


class LengthSortedMNRL(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss with each column's forward pass run by length
    (embed_by_length): the anchors alone, the candidates (positive, negatives) merged."""
    chunk: int | None = None  # rows per forward pass; None: sorted_chunk_rows() of the device

    def forward(self, sentence_features, labels):
        chunk = self.chunk or sorted_chunk_rows()
        columns = list(sentence_features)
        candidates = merge_feature_batches(columns[1:]) if len(columns) > 2 else columns[1]
        if candidates is None:  # columns that cannot merge: one pass each
            embeddings = [embed_by_length(self.model, c, chunk) for c in columns]
        else:
            docs = embed_by_length(self.model, candidates, chunk)
            embeddings = [embed_by_length(self.model, columns[0], chunk),
                          *docs.reshape(len(columns) - 1, -1, docs.shape[-1]).unbind(0)]
        return self.compute_loss_from_embeddings(embeddings, labels)
