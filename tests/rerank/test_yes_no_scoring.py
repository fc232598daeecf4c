"""eedi.rerank.yes_no_scoring on a tiny random Llama (CPU, seconds): prefix-reuse scoring (each row's
shared prefix run once, its KV cache reused) gives the naive scores, which are themselves
logit(Yes) - logit(No) of one unpadded forward pass."""

import numpy as np
import pytest
import torch

from conftest import NAMES
from conftest import ROW
from eedi.rerank.reranker import load_model
from eedi.rerank.yes_no_scoring import score_naive
from eedi.rerank.yes_no_scoring import score_prefix_reuse


def test_prefix_reuse_equals_naive_scores(spec, prompts):
    model = load_model(spec)
    rows = [prompts.encode(ROW, [NAMES[i] for i in range(6)]),
            prompts.encode(dict(ROW, QuestionText="A longer question " * 6), [NAMES[2]]),
            prompts.encode(dict(ROW, AnswerText="5"), [NAMES[1], NAMES[4], NAMES[5]])]
    reused = score_prefix_reuse(model, rows, prompts.yes_no, prompts.pad_id,
                                         pairs_per_batch=7)  # 2 batches, one of two rows
    for (prefix, suffixes), got in zip(rows, reused):
        naive = score_naive(model, [prefix + s for s in suffixes], prompts.yes_no,
                                     prompts.pad_id, batch_size=4)
        np.testing.assert_allclose(got, naive, atol=1e-3)
        assert len(set(np.round(naive, 5))) == len(naive)  # distinct scores: a real comparison
    # and the reference itself: one unpadded sequence through the plain forward pass
    prefix, suffixes = rows[0]
    with torch.no_grad():
        logits = model(torch.tensor([prefix + suffixes[0]])).logits[0, -1]
    assert reused[0][0] == pytest.approx((logits[prompts.yes_no[0]] - logits[prompts.yes_no[1]]).item(),
                                         abs=1e-3)
