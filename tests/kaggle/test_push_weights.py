"""scripts/kaggle/push_weights.py: the staged dataset holds the complete fold models and all/ (never
checkpoints, temp folders or unfinished models), the CV JSONs, a README and Kaggle's metadata;
the first push creates the dataset and later ones add versions (decided by pushed.json, written
only after the CLI succeeded); --dry-run uploads nothing; missing credentials or user name stop
the push before anything is staged, and the key is never printed. No test reaches the network:
the kaggle executable is a fake script (KAGGLE_CLI) that records its arguments. (The `home`
fixture, no credentials anywhere, is in conftest.py; kaggle_username is tested in
test_kaggle_cli.py.)"""

import json
import logging
import shlex
import stat
import sys
from pathlib import Path

import pytest

import push_weights
from eedi.kaggle.dataset import git_sha
from eedi.registry import REPO

SECRET = "s3cr3t-DO-NOT-PRINT-5f1e"
TAG = "QuestionId-5-42"
CV = {"tfidf": {"all": {"rows": 10, "map@25": 0.1686}, "fold0": {"rows": 5, "map@25": 0.2}},
      "minilm-ft": {"all": {"rows": 10, "map@25": 0.25}, "fold0": {"rows": 5, "map@25": 0.3}}}


def put(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def model_folder(folder: Path, complete: bool = True) -> Path:
    put(folder / "model.safetensors", "w" * 1234)
    put(folder / "retriever.json", '{"pooling": "mean"}')
    if complete:
        put(folder / "train.json", '{"train_seconds": 1.5}')
    return folder


@pytest.fixture
def credentials(home, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """models/<key>/minilm: fold0, fold1 complete; fold2 unfinished; leftovers of training."""
    root = tmp_path / "models" / "sample-1234abcd" / "minilm"
    model_folder(root / TAG / "fold0")
    model_folder(root / TAG / "fold1")
    model_folder(root / TAG / "fold2", complete=False)
    put(root / TAG / "fold0.checkpoints" / "checkpoint-10" / "optimizer.pt", "opt")
    put(root / TAG / ".fold2.tmp" / "model.safetensors", "half")
    model_folder(root / "all")
    put(root / "all" / "stale.checkpoints" / "optimizer.pt", "opt")  # nested leftovers too
    put(root / "all" / ".train.json.abc.tmp", "half")
    put(root / "all.checkpoints" / "checkpoint-5" / "optimizer.pt", "opt")
    return root


@pytest.fixture
def cv_json(tmp_path) -> Path:
    return put(tmp_path / "runs" / f"cv-{TAG}-tfidf+minilm-ft.json", json.dumps(CV))


@pytest.fixture
def fake_kaggle(tmp_path, monkeypatch):
    """A kaggle executable that records its argv and what -p held at call time.
    FAKE_KAGGLE_RC sets its exit code, FAKE_KAGGLE_SAY a line it prints."""
    record = tmp_path / "kaggle-calls.jsonl"
    script = put(tmp_path / "bin" / "kaggle", f"""#!{sys.executable}
import json, os, sys
from pathlib import Path
argv = sys.argv[1:]
folder = Path(argv[argv.index("-p") + 1])
files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
meta = json.loads((folder / "dataset-metadata.json").read_text())
with open({str(record)!r}, "a") as f:
    f.write(json.dumps({{"argv": argv, "files": files, "metadata": meta}}) + "\\n")
print(os.environ.get("FAKE_KAGGLE_SAY", "Your private Dataset is being created."))
sys.exit(int(os.environ.get("FAKE_KAGGLE_RC", "0")))
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("KAGGLE_CLI", str(script))

    def calls():
        if not record.exists():
            return []
        return [json.loads(line) for line in record.read_text().splitlines()]
    return calls


def staging_of(model_dir: Path) -> Path:
    return model_dir.parent / "minilm.dataset"


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def command_words(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if " datasets " in line)
    return shlex.split(line)


EXPECTED_FILES = {
    f"{TAG}/fold{k}/{name}" for k in (0, 1)
    for name in ("model.safetensors", "retriever.json", "train.json")
} | {f"all/{name}" for name in ("model.safetensors", "retriever.json", "train.json")} | {
    f"cv-{TAG}-tfidf+minilm-ft.json", "README.md", "dataset-metadata.json"}


# --------------------------------------------------------------------------- staging

def test_staging_holds_complete_models_cv_and_metadata_only(run_cli, home, model_dir, cv_json):
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--cv-json", cv_json,
                                         "--dataset", "someone/eedi-minilm", "--dry-run"])
    assert result.exit_code == 0, result.output
    staging = staging_of(model_dir)
    assert files_under(staging) == EXPECTED_FILES  # no fold2, checkpoints or temp files
    assert (staging / "all" / "model.safetensors").read_text() == "w" * 1234
    assert json.loads((staging / cv_json.name).read_text()) == CV
    readme = (staging / "README.md").read_text()
    assert f"{TAG}/fold1/" in readme and "all/" in readme and "fold2" not in readme
    assert "minilm-ft 0.2500" in readme and git_sha(REPO) in readme
    # assembled beside, then renamed: no temp folder left; nothing recorded as pushed
    assert sorted(p.name for p in staging.parent.iterdir()) == ["minilm", "minilm.dataset"]
    assert not (model_dir / "pushed.json").exists()


def test_metadata_is_kaggles_schema_with_defaults(run_cli, credentials, model_dir):
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dry-run"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((staging_of(model_dir) / "dataset-metadata.json").read_text())
    assert metadata == {"title": "Eedi minilm weights", "id": "someone/eedi-minilm",
                        "licenses": [{"name": "CC0-1.0"}]}


def test_title_license_and_staging_options(run_cli, home, model_dir, tmp_path):
    staging = tmp_path / "out" / "ds"
    result = run_cli(push_weights.main, [
        "--model-dir", model_dir, "--dataset", "me/my-weights", "--title", "My MiniLM folds",
        "--license", "CC-BY-4.0", "--staging", staging, "--cv-tag", TAG, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads((staging / "dataset-metadata.json").read_text()) == {
        "title": "My MiniLM folds", "id": "me/my-weights", "licenses": [{"name": "CC-BY-4.0"}]}
    words = command_words(result.stdout)
    assert words[words.index("-p") + 1] == str(staging)


def test_cv_tag_selects_one_fold_set(run_cli, home, model_dir):
    model_folder(model_dir / "ConstructId-5-42" / "fold0")
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--cv-tag", "ConstructId-5-42", "--dry-run"])
    assert result.exit_code == 0, result.output
    folders = {f.rsplit("/", 1)[0] for f in files_under(staging_of(model_dir)) if "/" in f}
    assert folders == {"ConstructId-5-42/fold0", "all"}
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--dry-run"])  # default: every fold set found
    folders = {f.rsplit("/", 1)[0] for f in files_under(staging_of(model_dir)) if "/" in f}
    assert folders == {"ConstructId-5-42/fold0", f"{TAG}/fold0", f"{TAG}/fold1", "all"}


def test_an_old_staging_folder_is_replaced(run_cli, home, model_dir):
    put(staging_of(model_dir) / "stale.bin", "old")  # a previous push's staging folder
    put(staging_of(model_dir) / "dataset-metadata.json", "{}")
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--dry-run"])
    assert result.exit_code == 0, result.output
    assert not (staging_of(model_dir) / "stale.bin").exists()
    assert (staging_of(model_dir) / "all" / "train.json").is_file()
    assert sorted(p.name for p in model_dir.parent.iterdir()) == ["minilm", "minilm.dataset"]


def test_no_complete_model_is_an_error_naming_the_folder(run_cli, home, tmp_path):
    model_dir = tmp_path / "models" / "k" / "minilm"
    model_folder(model_dir / TAG / "fold0", complete=False)
    put(model_dir / "all.checkpoints" / "checkpoint-5" / "optimizer.pt")
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--dry-run"])
    assert result.exit_code == 1
    assert "no complete model folder" in result.output and str(model_dir) in result.output
    assert not staging_of(model_dir).exists()


# --------------------------------------------------------------------------- dry run: command

def test_first_dry_run_prints_create_with_zip_and_the_file_listing(run_cli, home, model_dir):
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--dry-run"])
    assert result.exit_code == 0, result.output
    words = command_words(result.stdout)
    assert words[0] == str(Path(sys.executable).parent / "kaggle")  # the venv's CLI
    assert words[1:] == ["datasets", "create", "-p", str(staging_of(model_dir)),
                         "--dir-mode", "zip"]
    assert "1,234  all/model.safetensors" in result.stdout
    assert f"{TAG}/fold1/train.json" in result.stdout
    assert "fold2" not in result.stdout and "checkpoint" not in result.stdout


def test_dry_run_after_a_push_prints_version_with_a_message(run_cli, home, model_dir, cv_json):
    marker = model_dir / "pushed.json"
    marker.write_text(json.dumps({"dataset": "me/eedi-minilm", "datasets": ["me/eedi-minilm"]}))
    before = marker.read_bytes()
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--cv-json", cv_json, "--dry-run"])
    assert result.exit_code == 0, result.output
    words = command_words(result.stdout)
    assert words[1:3] == ["datasets", "version"]
    assert words[-2:] == ["--dir-mode", "zip"]
    message = words[words.index("-m") + 1]
    assert message == (f"{git_sha(REPO)} minilm CV MAP@25 "
                       "tfidf=0.1686 minilm-ft=0.2500")
    assert marker.read_bytes() == before  # a dry run records nothing


def test_a_marker_for_another_dataset_still_creates(run_cli, home, model_dir):
    (model_dir / "pushed.json").write_text(json.dumps({"dataset": "me/eedi-minilm-old",
                                                       "datasets": ["me/eedi-minilm-old"]}))
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--dry-run"])
    assert command_words(result.stdout)[1:3] == ["datasets", "create"]
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--action", "version", "--message", "v2", "--dry-run"])
    words = command_words(result.stdout)
    assert words[1:3] == ["datasets", "version"] and words[words.index("-m") + 1] == "v2"


@pytest.mark.parametrize("dataset, hint", [
    ("me/Bad_Slug", "6-50 characters of a-z, 0-9 and '-'"),
    ("me/short", None),  # 5..: 'short' has 5 characters
    ("me/" + "x" * 51, "6-50"),
    ("a/b/c-slug", "is not SLUG or USER/SLUG"),
    ("/eedi-minilm", "is not SLUG or USER/SLUG"),
])
def test_bad_dataset_names_are_refused(run_cli, home, model_dir, dataset, hint):
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", dataset,
                                         "--dry-run"])
    assert result.exit_code == 2, result.output
    assert (hint or "6-50") in result.output
    assert not staging_of(model_dir).exists()


def test_a_title_kaggle_refuses_is_an_error(run_cli, home, model_dir):
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--title", "Eedi", "--dry-run"])
    assert result.exit_code == 2 and "6-50" in result.output
    assert not staging_of(model_dir).exists()


# --------------------------------------------------------------------------- credentials

def test_without_a_user_name_it_stops_before_staging(run_cli, home, model_dir):
    for extra in (["--dry-run"], []):
        result = run_cli(push_weights.main, ["--model-dir", model_dir, *extra])
        assert result.exit_code == 1, result.output
        assert "cannot tell your Kaggle user name" in result.output
        assert "--dataset USER/eedi-minilm" in result.output
        assert not staging_of(model_dir).exists()
        assert not (model_dir / "pushed.json").exists()


def test_an_api_token_alone_does_not_name_the_user(run_cli, home, model_dir, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dry-run"])
    assert result.exit_code == 1 and "cannot tell your Kaggle user name" in result.output
    assert SECRET not in result.output


def test_a_real_push_without_credentials_uploads_nothing(run_cli, home, model_dir, fake_kaggle):
    marker = put(model_dir / "pushed.json", json.dumps({"datasets": ["me/eedi-minilm"]}))
    before = marker.read_bytes()
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm"])
    assert result.exit_code == 1
    assert "no Kaggle credentials" in result.output
    assert fake_kaggle() == []
    assert not staging_of(model_dir).exists()
    assert marker.read_bytes() == before


def kaggle_json_credentials(home, monkeypatch):
    put(home / ".kaggle" / "kaggle.json", json.dumps({"username": "someone", "key": SECRET}))


def env_credentials(home, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)


def half_credentials(home, monkeypatch):  # a key but no user name: the error path
    monkeypatch.setenv("KAGGLE_KEY", SECRET)


@pytest.mark.parametrize("setup", [kaggle_json_credentials, env_credentials, half_credentials])
@pytest.mark.parametrize("dry_run", [True, False])
def test_the_key_is_never_printed(run_cli, home, model_dir, cv_json, fake_kaggle, monkeypatch,
                                  caplog, capfd, setup, dry_run):
    caplog.set_level(logging.DEBUG)
    setup(home, monkeypatch)
    args = ["--model-dir", model_dir, "--cv-json", cv_json] + (["--dry-run"] if dry_run else [])
    result = run_cli(push_weights.main, args)
    assert result.exit_code == (1 if setup is half_credentials else 0), result.output
    if setup is not half_credentials:
        assert "someone/eedi-minilm" in result.output + caplog.text
        assert len(fake_kaggle()) == (0 if dry_run else 1)
    captured = capfd.readouterr()
    for text in (result.output, caplog.text, captured.out, captured.err):
        assert SECRET not in text
    for folder in (model_dir, staging_of(model_dir)):
        for path in folder.rglob("*"):
            assert not path.is_file() or SECRET not in path.read_text(errors="replace")


# --------------------------------------------------------------------------- real pushes (fake CLI)

def test_a_push_creates_then_versions_and_records_it(run_cli, credentials, model_dir, cv_json,
                                                     fake_kaggle):
    staging = staging_of(model_dir)
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--cv-json", cv_json])
    assert result.exit_code == 0, result.output
    [call] = fake_kaggle()
    assert call["argv"] == ["datasets", "create", "-p", str(staging), "--dir-mode", "zip"]
    assert set(call["files"]) == EXPECTED_FILES  # staged before the CLI ran
    assert call["metadata"]["id"] == "someone/eedi-minilm"
    pushed = json.loads((model_dir / "pushed.json").read_text())
    sha = git_sha(REPO)
    assert pushed["dataset"] == "someone/eedi-minilm" and pushed["datasets"] == [pushed["dataset"]]
    assert pushed["git"] == sha and pushed["action"] == "create" and pushed["time"]
    assert pushed["message"] == f"{sha} minilm CV MAP@25 tfidf=0.1686 minilm-ft=0.2500"

    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--cv-json", cv_json,
                                         "--message", "more epochs"])
    assert result.exit_code == 0, result.output
    second = fake_kaggle()[1]["argv"]
    assert second == ["datasets", "version", "-p", str(staging), "-m", "more epochs",
                      "--dir-mode", "zip"]
    pushed = json.loads((model_dir / "pushed.json").read_text())
    assert pushed["action"] == "version" and pushed["message"] == "more epochs"


@pytest.mark.parametrize("rc, say, error", [
    (1, "401 Unauthorized", "failed (exit code 1)"),
    # kaggle 2.x exits 0 on these: the printed error must still count as a failure
    (0, 'Dataset creation error: The requested title "x" is already in use',
     "--action version"),
])
def test_a_failing_cli_records_nothing(run_cli, credentials, model_dir, fake_kaggle,
                                       monkeypatch, rc, say, error):
    monkeypatch.setenv("FAKE_KAGGLE_RC", str(rc))
    monkeypatch.setenv("FAKE_KAGGLE_SAY", say)
    result = run_cli(push_weights.main, ["--model-dir", model_dir])
    assert result.exit_code == 1
    assert "kaggle datasets create failed" in result.output and error in result.output
    assert len(fake_kaggle()) == 1
    assert not (model_dir / "pushed.json").exists()


def test_a_missing_cli_is_a_clear_error(run_cli, credentials, model_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_CLI", str(tmp_path / "no-such-kaggle"))
    result = run_cli(push_weights.main, ["--model-dir", model_dir])
    assert result.exit_code == 1
    assert "cannot run the kaggle CLI" in result.output and "KAGGLE_CLI" in result.output
    assert not (model_dir / "pushed.json").exists()


def test_help_names_what_it_reads_and_writes(run_cli):
    result = run_cli(push_weights.main, ["--help"])
    assert result.exit_code == 0
    for word in ("Reads", "Writes", "pushed.json", "dataset-metadata.json", "--dir-mode zip",
                 "KAGGLE_CLI"):
        assert word in result.output


@pytest.mark.parametrize("where", ["parent", "inside", "other-folder"])
def test_staging_never_replaces_a_folder_it_did_not_stage(run_cli, home, model_dir, where):
    staging = {"parent": model_dir.parent, "inside": model_dir / "dataset",
               "other-folder": put(model_dir.parent.parent / "notes" / "keep.txt").parent}[where]
    result = run_cli(push_weights.main, ["--model-dir", model_dir, "--dataset", "me/eedi-minilm",
                                         "--staging", staging, "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "--staging" in result.output
    assert (model_dir / "all" / "train.json").is_file()
    if where == "other-folder":
        assert (staging / "keep.txt").is_file()
