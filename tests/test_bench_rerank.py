"""scripts/bench_rerank.py --training on a tiny random Llama: the four training cases side by
side (full sequences / shared prefix, gradient checkpointing off / on), their speed-ups over
full sequences, and the same losses in all four (the packing changes the cost, not the maths).
The numbers on SmolLM2 are in docs/results.md."""

import bench_rerank
import pytest


def test_training_mode_times_four_cases_that_agree_on_the_loss(data, tiny_llama_dir, run_cli):
    result = run_cli(bench_rerank.main, ["--model", tiny_llama_dir, "--train", data["train"],
                                         "--misconceptions", data["mis"], "--ranking", data["ranking"],
                                         "--rows", 3, "--candidates", 4, "--training"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "groups of 4" in lines[0]
    header, *rows = lines[1:]
    assert header.split()[:4] == ["training", "tokens", "seconds", "tokens/s"]
    cases = [row.rsplit(None, 5)[0].strip() for row in rows]
    assert cases == ["full sequences", "shared prefix", "full sequences + checkpointing",
                     "shared prefix + checkpointing"]
    for row in rows:
        *_, tokens_per_second, speedup, loss_difference = row.split()
        assert float(tokens_per_second) > 0 and float(speedup) > 0
        assert float(loss_difference) < 1e-4


def test_a_listwise_reranker_times_full_window_prompts_against_the_shared_prefix(data, tiny_llama_dir, run_cli, tmp_path):
    """A listwise spec: its windows (3 wide, 2 apart, both orders over the top 5) scored as full
    prompts and on each row's prefix cache; the two agree."""
    from eedi.model_folder import save_spec
    from eedi.registry import Reranker
    from conftest import TINY_LORA
    folder = tmp_path / "listwise"
    folder.mkdir()
    save_spec(Reranker(model=str(tiny_llama_dir), lora=TINY_LORA, max_length=384, reranking="listwise",
                       window=3, stride=2, n_negatives=2), folder)
    result = run_cli(bench_rerank.main, ["--model", folder, "--train", data["train"],
                                         "--misconceptions", data["mis"], "--ranking", data["ranking"],
                                         "--rows", 2, "--candidates", 5])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "windows of 3, 2 apart, both orders" in lines[-5]
    full, reuse = (line.split() for line in lines[-3:-1])
    assert_bound_line(lines[-1], float(reuse[-2]))
    assert full[:3] == ["hf", "full", "prompts"] and reuse[:2] == ["hf", "prefix-reuse"]
    assert full[3] == reuse[2] == "8"             # 2 rows x 2 windows (2-5, 0-3) x 2 orders
    assert float(reuse[-1]) < 1e-3                # the same logits


def test_the_default_mode_times_naive_against_prefix_reuse_scoring_and_they_agree(data, tiny_llama_dir, run_cli):
    """Pointwise inference (no vLLM venv given): every pair's full prompt vs each row's prefix
    run once, pairs/s and the speed-up side by side, the same Yes/No scores."""
    result = run_cli(bench_rerank.main, ["--model", tiny_llama_dir, "--train", data["train"],
                                         "--misconceptions", data["mis"], "--ranking", data["ranking"],
                                         "--rows", 2, "--candidates", 4])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "2 rows x 4 candidates" in lines[0]
    assert lines[1].split() == ["engine", "pairs", "seconds", "pairs/s", "x", "naive",
                                "max", "|score", "-", "naive|"]
    naive, reuse = (line.split() for line in lines[2:4])
    assert naive[:3] == ["hf", "naive", "8"] and reuse[:3] == ["hf", "prefix-reuse", "8"]
    assert_bound_line(lines[4], float(reuse[-2]))
    assert float(naive[-2]) == 1.0 and float(naive[-1]) == 0.0
    assert float(reuse[-1]) < 1e-3


def assert_bound_line(line: str, speedup: float) -> None:
    """`prefix reuse: Rx of a Bx bound (P%)`: R the table's speed-up, P = R / B."""
    import re
    ratio, bound, percent = re.fullmatch(r"prefix reuse: ([\d.]+)x of a ([\d.]+)x bound \((\d+)%\)",
                                         line).groups()
    assert float(ratio) == pytest.approx(speedup, abs=0.01) and float(bound) > 1
    assert int(percent) == pytest.approx(100 * float(ratio) / float(bound), abs=1)


def test_the_bound_is_naive_tokens_over_the_tokens_left_with_reuse():
    """One row: a 10-token prefix and 4 suffixes of 2: naive 4 x 12 = 48 tokens, reuse
    10 + 4 x 2 = 18; two rows add up before dividing."""
    row = ([1] * 10, [[2, 2]] * 4)
    assert bench_rerank.reuse_bound([row]) == pytest.approx(48 / 18)
    assert bench_rerank.reuse_bound([row, ([1] * 4, [[2]])]) == pytest.approx((48 + 5) / (18 + 5))
