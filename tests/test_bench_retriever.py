"""scripts/bench_retriever.py on a tiny random BERT: the peak, both paths each in a process of
its own (today's without the MALLOC_* settings, the fast one with them), and the two closing
lines in their exact form. The numbers on the real data are in docs/results.md."""

import re

import bench_retriever
import pytest
from eedi.training_args import MALLOC_SETTINGS

LINE = r"{}: ([\d.]+) -> ([\d.]+) {} \(([\d.]+)x\), (\d+)% of peak"


def test_both_paths_side_by_side_end_in_the_two_lines(data, tiny_bert_dir, run_cli, monkeypatch):
    for name in MALLOC_SETTINGS:
        monkeypatch.setenv(name, "17179869184")
    result = run_cli(bench_retriever.main, ["--model", tiny_bert_dir, "--train", data["train"],
                                            "--misconceptions", data["mis"], "--rows", 7,
                                            "--texts", 16, "--batch-size", 2])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"peak: float32 [\d.]+ GFLOP/s, bfloat16 [\d.]+ GFLOP/s", lines[1])
    table = "\n".join(lines[2:-2])
    today, fast = (re.search(rf"^{p}\s.*$", table, re.M).group(0).split() for p in ("today", "fast"))
    header = lines[2].split()
    column = lambda row, name: row[1 + header.index(name)]
    assert column(today, "malloc_settings") == "False" and column(fast, "malloc_settings") == "True"
    for row in (today, fast):  # padded tokens per real one (which rows a step draws differs)
        assert float(column(row, "train_padded_per_token")) >= 1
        assert float(column(row, "encode_padded_per_token")) >= 1
    for line, stage, unit in ((lines[-2], "train", "examples/s"), (lines[-1], "encode", "texts/s")):
        a, b, ratio, percent = re.fullmatch(LINE.format(stage, unit), line).groups()
        assert float(ratio) == pytest.approx(float(b) / float(a), abs=0.01)
        assert float(a) > 0 and 0 < int(percent) <= 100 or int(percent) == 0


def test_the_fast_path_is_refused_without_the_makefiles_allocator_settings(data, tiny_bert_dir,
                                                                           run_cli, monkeypatch):
    for name in MALLOC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    result = run_cli(bench_retriever.main, ["--model", tiny_bert_dir, "--train", data["train"],
                                            "--misconceptions", data["mis"], "--rows", 7,
                                            "--texts", 16, "--batch-size", 2])
    assert result.exit_code == 2 and "make bench-retriever" in result.output
