"""eedi/kaggle/t4.py and scripts/kaggle/t4_budget.py: the 4-bit weights of Qwen2.5 14B/32B/72B
weigh what the public AWQ checkpoints do; a model that does not fit a T4 offloads, and one that
does not fit the session's RAM either is refused; a big prefill batch is compute-bound, a tiny
one memory-bound; the largest TOP_N is the inverse of the projected time; the command measures
the real prompt builder's tokens."""

import pytest

import t4_budget
from eedi.kaggle.t4 import (QWEN25, Layout, largest_top_n, layouts, rerank_seconds,
                            seconds_per_token)


def test_4bit_weights_weigh_what_the_public_checkpoints_do():
    gb = {k: m.weight_bytes() / 1e9 for k, m in QWEN25.items()}
    assert gb["14b"] == pytest.approx(9.9, abs=0.3)   # Qwen2.5-14B-Instruct-AWQ ~10 GB
    assert gb["32b"] == pytest.approx(19.1, abs=0.5)  # -32B-AWQ ~19 GB
    assert gb["72b"] == pytest.approx(41.1, abs=1.0)  # -72B-AWQ ~41 GB


def test_layouts_offload_what_does_not_fit_and_refuse_what_ram_cannot_hold():
    one, two = layouts(QWEN25["14b"])
    assert (one.tp, one.copies, one.offload_per_gpu, two.tp, two.copies) == (1, 2, 0.0, 2, 1)
    single32, split32 = layouts(QWEN25["32b"])
    assert single32.offload_per_gpu > 0 and split32.offload_per_gpu == 0  # 32B needs both T4s
    single72, split72 = layouts(QWEN25["72b"])
    assert not single72.fits and split72.fits and split72.offload_per_gpu > 5e9  # the 2nd place's


def test_big_batches_are_compute_bound_and_tiny_ones_memory_bound():
    model, layout = QWEN25["32b"], layouts(QWEN25["32b"])[1]
    big, tiny = seconds_per_token(model, layout, 2048), seconds_per_token(model, layout, 1)
    assert big["bound"] == "compute" and tiny["bound"] == "memory"
    assert tiny["projected_s"] > 10 * big["projected_s"]  # one token reads all 9.5 GB
    assert big["compute_peak_s"] < big["compute_s"] == big["projected_s"]
    # twice the copies (one per T4) at the same per-GPU cost: twice the machine's tokens/s
    half = Layout(2, 1, 5e9, 0.0)
    both = Layout(1, 2, 10e9, 0.0)
    assert seconds_per_token(QWEN25["14b"], half, 2048)["projected_s"] == pytest.approx(
        seconds_per_token(QWEN25["14b"], both, 2048)["projected_s"])


def test_the_largest_top_n_is_the_inverse_of_the_projected_time():
    per_token, rows, prefix, suffix, fixed = 1e-3, 5600, 150.0, 20.0, 300.0
    n = largest_top_n(per_token, rows, prefix, suffix, fixed, 20000)
    assert rerank_seconds(per_token, rows, prefix, suffix, n, fixed) <= 20000
    assert rerank_seconds(per_token, rows, prefix, suffix, n + 1, fixed) > 20000
    assert largest_top_n(per_token, rows, prefix, suffix, fixed, 100) == 0


def test_the_command_measures_the_prompt_and_prints_every_model_and_layout(data, run_cli):
    result = run_cli(t4_budget.main, ["--queries", data["train"], "--misconceptions", data["mis"],
                                      "--ranking", data["ranking"], "--top-n", 4, "--sample", 5])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "prefix tokens per row" in first and "suffix tokens per candidate" in first
    rows = [line for line in result.stdout.splitlines() if line.startswith("| Qwen2.5")]
    assert len(rows) == 6 and "no: " in rows[4] and rows[4].endswith("| 0 |")


def test_a_listwise_reranker_is_measured_by_its_windows(data, run_cli):
    """--reranker smollm135m-list: each row's head once, then per candidate its share of every
    window's lines and instruction (windows of 5, 3 apart, both orders over the top 10): more
    tokens per candidate than the pointwise prompt's suffix, and so a smaller largest TOP_N."""
    def measured(*extra):
        result = run_cli(t4_budget.main, ["--queries", data["train"], "--misconceptions", data["mis"],
                                          "--ranking", data["ranking"], "--top-n", 6, "--sample", 5,
                                          *extra])
        assert result.exit_code == 0, result.output
        first = result.stdout.splitlines()[0]
        import re
        numbers = [float(x) for x in re.search(
            r"([\d.]+) prefix tokens per row, ([\d.]+) suffix tokens", first).groups()]
        largest = [int(line.rsplit("|", 2)[1]) for line in result.stdout.splitlines()
                   if line.startswith("| Qwen2.5")]
        return first, numbers, largest
    point, (p_prefix, p_suffix, *_), p_largest = measured()
    listed, (l_prefix, l_suffix, *_), l_largest = measured("--reranker", "smollm135m-list")
    assert "listwise prompt: windows of 5, 3 apart, both orders" in listed
    assert "pointwise prompt" in point
    assert l_suffix > p_suffix and l_prefix < p_prefix + 10
    assert all(l <= p for l, p in zip(l_largest, p_largest)) and sum(l_largest) < sum(p_largest)
