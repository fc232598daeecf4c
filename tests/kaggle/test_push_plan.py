"""scripts/kaggle/push_plan.py (make push-plan): make kernel's plan folder goes up as the dataset its
dataset-metadata.json names, created once and versioned after, recorded outside the folder
make kernel replaces; --dry-run prints the command and touches no network; a folder that is
not a plan is one clear error."""

import json

import push_plan
from eedi.kaggle.plan import build_plan
from eedi.kaggle.time_budget import Estimates


def plan_dir(tmp_path):
    folder = tmp_path / "kernel" / "plan"
    folder.mkdir(parents=True)
    plan = build_plan("fuse-tfidf+minilm-ft.boost", None, None, "hf", 1, None, 30_000,
                      Estimates().to_plan())
    (folder / "kernel.json").write_text(json.dumps(plan))
    (folder / "fusion-fuse-tfidf+minilm-ft.json").write_text("{}")
    (folder / "dataset-metadata.json").write_text(json.dumps(
        {"id": "someone/eedi-plan", "title": "Eedi plan", "licenses": [{"name": "CC0-1.0"}]}))
    return folder


def test_dry_run_prints_the_create_command_and_files(tmp_path, fake_cli, run_cli):
    folder = plan_dir(tmp_path)
    marker = tmp_path / "kernel.plan.pushed.json"
    result = run_cli(push_plan.main, ["--plan-dir", folder, "--marker", marker, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"datasets create -p {folder} --dir-mode zip" in result.output
    assert "kernel.json" in result.output and "fusion-fuse-tfidf+minilm-ft.json" in result.output
    assert fake_cli.argvs() == [] and not marker.exists()


def test_push_creates_then_versions_and_records_outside_the_folder(tmp_path, fake_cli, run_cli):
    folder = plan_dir(tmp_path)
    marker = tmp_path / "kernel.plan.pushed.json"
    for _ in range(2):
        result = run_cli(push_plan.main, ["--plan-dir", folder, "--marker", marker])
        assert result.exit_code == 0, result.output
    create, version = fake_cli.argvs()
    assert create[:4] == ["datasets", "create", "-p", str(folder)]
    assert version[:6] == ["datasets", "version", "-p", str(folder), "-m",
                           "plan for fuse-tfidf+minilm-ft.boost"]
    record = json.loads(marker.read_text())
    assert record["dataset"] == "someone/eedi-plan" and record["action"] == "version"
    assert record["final"] == "fuse-tfidf+minilm-ft.boost"


def test_a_folder_that_is_not_a_plan_or_a_marker_inside_it_is_refused(tmp_path, fake_cli, run_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(push_plan.main, ["--plan-dir", empty, "--marker", tmp_path / "m.json"])
    assert result.exit_code == 1 and "not a plan folder" in result.output
    folder = plan_dir(tmp_path)
    result = run_cli(push_plan.main, ["--plan-dir", folder, "--marker", folder / "m.json"])
    assert result.exit_code == 2 and "make kernel replaces" in result.output
    assert fake_cli.argvs() == []
