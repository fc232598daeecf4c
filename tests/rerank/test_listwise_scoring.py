"""eedi.rerank.listwise_scoring on a tiny random Llama (CPU, seconds): a window's label logits
in a padded batch equal one unpadded forward pass, a row's windows scored on its prefix's KV
cache equal them too, and they drive listwise.slide."""

import numpy as np
import pytest
import torch

from conftest import NAMES, ROW
from eedi.rerank.listwise import rank_scores, slide
from eedi.rerank.listwise_scoring import (label_logits, label_logits_prefix_reuse, listwise_loss,
                                         rerank_rows, window_scorer)
from eedi.rerank.prompt import ListPromptBuilder
from eedi.rerank.reranker import load_model


@pytest.fixture(scope="module")
def list_prompts(prompts):
    return ListPromptBuilder(prompts.tokenizer, max_length=512, name="tiny")


def test_window_prompt_lists_labelled_candidates_and_asks_for_a_label(list_prompts):
    text = list_prompts.tokenizer.decode(list_prompts.encode_window(ROW, [NAMES[0], NAMES[1]]))
    assert f"\n1. {NAMES[0]}\n2. {NAMES[1]}\n" in text and "Answer with its label only." in text
    assert text.index(ROW["QuestionText"]) < text.index("1. ")
    with pytest.raises(Exception, match="raise it or shrink the window"):
        ListPromptBuilder(list_prompts.tokenizer, max_length=40).encode_window(ROW, [NAMES[0]])


def test_batched_label_logits_equal_one_unpadded_pass(spec, list_prompts):
    model = load_model(spec)
    windows = [[NAMES[i] for i in range(5)], [NAMES[3], NAMES[1]],
               [NAMES[i] for i in range(6)][::-1]]
    sequences = [list_prompts.encode_window(ROW, w) for w in windows]
    got = label_logits(model, sequences, list_prompts.label_ids, list_prompts.pad_id,
                       sizes=[len(w) for w in windows], batch_size=2)
    assert [len(g) for g in got] == [5, 2, 6]
    for seq, w, g in zip(sequences, windows, got):
        with torch.no_grad():
            last = model(torch.tensor([seq])).logits[0, -1]
        np.testing.assert_allclose(g, last[list_prompts.label_ids[:len(w)]].numpy(), atol=1e-3)
    assert len(set(np.round(got[2], 5))) == 6  # distinct: a real comparison

    score = window_scorer(model, list_prompts, ROW)
    names = [NAMES[i] for i in range(6)]
    order, scores = slide(names, score, size=4, stride=2, reverse_too=True)
    assert sorted(order) == sorted(names) and list(scores) == [6, 5, 4, 3, 2, 1]


def test_the_loss_is_low_when_the_gold_label_leads_and_its_gradient_raises_it():
    logits = torch.tensor([[0.0, 5.0, 0.0], [3.0, 0.0, 0.0]], requires_grad=True)
    gold = torch.tensor([1, 2])
    loss = listwise_loss(logits, gold)
    expected = -(torch.log_softmax(logits, -1)[0, 1] + torch.log_softmax(logits, -1)[1, 2]) / 2
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert logits.grad[0, 1] < 0 and logits.grad[1, 2] < 0   # descending raises the gold's logit
    assert listwise_loss(torch.tensor([[0.0, 20.0]]), torch.tensor([1])).item() < 1e-6


def test_rows_reranked_together_equal_each_row_slid_alone(spec, list_prompts):
    """rerank_rows (the rerank CLI's listwise path: every row's k-th window in one batch, each
    window read both ways) orders each row as slide() over one-prompt-at-a-time forwards."""
    model = load_model(spec)
    listwise = spec.replace(reranking="listwise", window=3, stride=2, both_orders=True)
    rows = [dict(ROW, QuestionId_Answer=f"{i}_B", AnswerText=text)
            for i, text in enumerate([r"\( 2 \)", r"\( \frac{1}{12} \)", "7"])]
    items = [(rows[0], [NAMES[i] for i in (0, 1, 2, 3, 4, 5)]), (rows[1], [NAMES[i] for i in (5, 3, 1)]),
             (rows[2], [NAMES[i] for i in (2, 4, 0, 1)])]
    got = rerank_rows(items, list_prompts, listwise, lambda groups, sizes: label_logits_prefix_reuse(
        model, groups, list_prompts.label_ids, list_prompts.pad_id, sizes, windows_per_batch=3))
    for (row, names), scores in zip(items, got):
        score = window_scorer(model, list_prompts, row)
        order, _ = slide(list(range(len(names))), lambda w: score([names[j] for j in w]),
                         size=3, stride=2, reverse_too=True)
        np.testing.assert_array_equal(scores, rank_scores(len(names), order))
    assert any(list(np.argsort(-s)) != list(range(len(s))) for s in got)  # it did reorder


def test_windows_scored_on_their_rows_shared_prefix_equal_full_prompts(spec, list_prompts):
    """encode_windows: one prefix per row (question, answers) + a suffix per window; scoring
    the suffixes on the prefix's KV cache (rows of different prefix lengths, windows of
    different sizes, chunks that mix rows) gives label_logits of prefix + suffix."""
    model = load_model(spec)
    rows = [ROW, dict(ROW, QuestionId_Answer="11_C", QuestionText="A much longer question " * 6)]
    windows = [[[NAMES[i] for i in range(5)], [NAMES[2], NAMES[0]], [NAMES[4], NAMES[3], NAMES[1]]],
               [[NAMES[1], NAMES[5], NAMES[0], NAMES[2]]]]
    groups = [list_prompts.encode_windows(r, w) for r, w in zip(rows, windows)]
    assert groups[0][0] + groups[0][1][1] == list_prompts.encode_window(ROW, windows[0][1])
    sizes = [[len(w) for w in ws] for ws in windows]
    got = label_logits_prefix_reuse(model, groups, list_prompts.label_ids, list_prompts.pad_id,
                                    sizes, windows_per_batch=2)
    for (prefix, suffixes), row_sizes, row_got in zip(groups, sizes, got):
        want = label_logits(model, [prefix + s for s in suffixes], list_prompts.label_ids,
                            list_prompts.pad_id, row_sizes)
        for g, w in zip(row_got, want):
            np.testing.assert_allclose(g, w, atol=1e-4)
    assert [len(g) for g in got[0]] == [5, 2, 3]
