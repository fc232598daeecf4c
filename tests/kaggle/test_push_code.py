"""scripts/kaggle/push_code.py: the code dataset holds exactly the shipped files git knows (scripts/
with eedi/, Makefile, make/, requirements*.txt, README.md; never ignored or other files), plus
VERSION.json with the sha; a dirty tree is refused unless --allow-dirty, which marks it dirty;
create then version, recorded only after the CLI succeeded; --dry-run uploads nothing. A temp
git repository stands in for this one and a fake kaggle executable for the CLI (conftest)."""

import json
import shlex
import subprocess

import pytest

import push_code
from eedi.kaggle.dataset import git_sha

SHIPPED = {"scripts/run.py", "scripts/eedi/__init__.py", "scripts/eedi/lib.py", "Makefile",
           "make/kaggle.mk", "requirements.txt", "requirements-kaggle.txt", "README.md"}


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    for rel in SHIPPED | {"tests/test_x.py", "data/README.md", "notes.txt"}:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(f"# {rel}\n")
    (repo / ".gitignore").write_text("__pycache__/\nsubmissions/*\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "scripts" / "eedi" / "__pycache__").mkdir()
    (repo / "scripts" / "eedi" / "__pycache__" / "lib.cpython-311.pyc").write_text("x")
    return repo


def staging(repo):
    return repo / "submissions" / "code.dataset"


def files_under(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def command(stdout):
    return shlex.split(next(line for line in stdout.splitlines() if " datasets " in line))


def test_dry_run_stages_the_shipped_files_and_prints_create(run_cli, home, repo):
    result = run_cli(push_code.main, ["--repo", repo, "--dataset", "me/eedi-code", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert files_under(staging(repo)) == SHIPPED | {"VERSION.json", "dataset-metadata.json"}
    assert (staging(repo) / "scripts/eedi/lib.py").read_text() == "# scripts/eedi/lib.py\n"
    sha = git_sha(repo)
    version = json.loads((staging(repo) / "VERSION.json").read_text())
    assert version["git"] == sha and version["dirty"] is False and version["files"] == len(SHIPPED)
    assert json.loads((staging(repo) / "dataset-metadata.json").read_text()) == {
        "title": "Eedi pipeline code", "id": "me/eedi-code", "licenses": [{"name": "CC0-1.0"}]}
    words = command(result.stdout)
    assert words[1:] == ["datasets", "create", "-p", str(staging(repo)), "--dir-mode", "zip"]
    assert "scripts/eedi/lib.py" in result.stdout and "__pycache__" not in result.stdout
    assert not (repo / "submissions" / "code.dataset.pushed.json").exists()


@pytest.mark.parametrize("change", ["modify", "untracked", "delete", "staged"])
def test_a_dirty_tree_is_refused(run_cli, home, repo, change):
    if change == "modify":
        (repo / "scripts/eedi/lib.py").write_text("changed\n")
    elif change == "untracked":
        (repo / "scripts/eedi/new.py").write_text("new\n")
    elif change == "delete":
        (repo / "Makefile").unlink()
    else:
        (repo / "README.md").write_text("staged\n")
        git(repo, "add", "README.md")
    for extra in (["--dry-run"], []):
        result = run_cli(push_code.main, ["--repo", repo, "--dataset", "me/eedi-code", *extra])
        assert result.exit_code == 1, result.output
        assert "differ from HEAD" in result.output and "--allow-dirty" in result.output
        assert not staging(repo).exists()


def test_changes_outside_the_shipped_paths_are_not_dirt(run_cli, home, repo):
    (repo / "tests/test_x.py").write_text("changed\n")
    (repo / "scratch.txt").write_text("new\n")
    result = run_cli(push_code.main, ["--repo", repo, "--dataset", "me/eedi-code", "--dry-run"])
    assert result.exit_code == 0, result.output


def test_allow_dirty_pushes_the_working_tree_marked_dirty(run_cli, fake_cli, repo, caplog):
    (repo / "scripts/eedi/lib.py").write_text("changed\n")
    (repo / "scripts/eedi/new.py").write_text("new\n")
    result = run_cli(push_code.main, ["--repo", repo, "--allow-dirty"])
    assert result.exit_code == 0, result.output
    sha = git_sha(repo)
    [call] = fake_cli.calls()
    assert call["argv"] == ["datasets", "create", "-p", str(staging(repo)), "--dir-mode", "zip"]
    assert "scripts/eedi/new.py" in call["files"]  # what is there, not what HEAD has
    assert (staging(repo) / "scripts/eedi/lib.py").read_text() == "changed\n"
    version = json.loads((staging(repo) / "VERSION.json").read_text())
    assert version["dirty"] is True and version["git"] == sha
    pushed = json.loads((repo / "submissions/code.dataset.pushed.json").read_text())
    assert pushed["dataset"] == "someone/eedi-code" and pushed["dirty"] is True
    assert pushed["message"] == f"{sha}-dirty pipeline code ({len(SHIPPED) + 1} files)"
    assert "PUSHING A DIRTY TREE" in caplog.text


def test_create_then_version_with_the_sha_in_the_message(run_cli, fake_cli, repo):
    fake_cli.respond(["datasets"], "Your private Dataset is being created.\n")
    assert run_cli(push_code.main, ["--repo", repo]).exit_code == 0
    (repo / "scripts/eedi/lib.py").write_text("v2\n")
    git(repo, "commit", "-qam", "v2")
    result = run_cli(push_code.main, ["--repo", repo])
    assert result.exit_code == 0, result.output
    sha = git_sha(repo)
    first, second = fake_cli.calls()
    assert first["argv"][:2] == ["datasets", "create"]
    assert set(first["files"]) == SHIPPED | {"VERSION.json", "dataset-metadata.json"}
    assert second["argv"] == ["datasets", "version", "-p", str(staging(repo)), "-m",
                              f"{sha} pipeline code ({len(SHIPPED)} files)", "--dir-mode", "zip"]
    pushed = json.loads((repo / "submissions/code.dataset.pushed.json").read_text())
    assert pushed["action"] == "version" and pushed["git"] == sha and pushed["dirty"] is False


def test_a_failing_push_records_nothing(run_cli, fake_cli, repo):
    fake_cli.respond(["datasets"], "Dataset creation error: Invalid slug\n")  # exit 0 (2.x)
    result = run_cli(push_code.main, ["--repo", repo])
    assert result.exit_code == 1
    assert "kaggle datasets create failed: Dataset creation error" in result.output
    assert not (repo / "submissions/code.dataset.pushed.json").exists()


def test_a_real_push_needs_credentials(run_cli, home, repo, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_CLI", str(tmp_path / "never-run"))
    result = run_cli(push_code.main, ["--repo", repo, "--dataset", "me/eedi-code"])
    assert result.exit_code == 1 and "no Kaggle credentials" in result.output
    assert not staging(repo).exists()


def test_not_a_git_repository_is_an_error(run_cli, home, tmp_path):
    (tmp_path / "plain" / "scripts").mkdir(parents=True)
    result = run_cli(push_code.main, ["--repo", tmp_path / "plain", "--dataset", "me/eedi-code",
                                      "--dry-run"])
    assert result.exit_code == 1 and "not a git repository" in result.output
