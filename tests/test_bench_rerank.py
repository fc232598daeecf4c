"""scripts/bench_rerank.py --training on a tiny random Llama: the four training cases side by
side (full sequences / shared prefix, gradient checkpointing off / on), their speed-ups over
full sequences, and the same losses in all four (the packing changes the cost, not the maths).
The numbers on SmolLM2 are in docs/results.md."""

import bench_rerank


def test_training_mode_times_four_cases_that_agree_on_the_loss(data, tiny_llama_dir, run_cli):
    result = run_cli(bench_rerank.main, ["--model", tiny_llama_dir, "--train", data["train"],
                                         "--misconceptions", data["mis"], "--ranking", data["ranking"],
                                         "--rows", 3, "--candidates", 4, "--training"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "groups of 4" in lines[0]
    header, *rows = lines[1:]
    assert header.split()[:4] == ["training", "groups", "seconds", "tokens/s"]
    cases = [row.rsplit(None, 5)[0].strip() for row in rows]
    assert cases == ["full sequences", "shared prefix", "full sequences + checkpointing",
                     "shared prefix + checkpointing"]
    for row in rows:
        *_, tokens_per_second, speedup, loss_difference = row.split()
        assert float(tokens_per_second) > 0 and float(speedup) > 0
        assert float(loss_difference) < 1e-4


def test_a_listwise_reranker_is_refused_not_timed_as_pointwise(tmp_path, run_cli):
    result = run_cli(bench_rerank.main, ["--model", "smollm135m-list", "--train", tmp_path / "t",
                                         "--misconceptions", tmp_path / "m", "--ranking", tmp_path / "r"])
    assert result.exit_code == 2 and "smollm135m-list is a listwise reranker" in result.output
