"""The kaggle CLI, in one place: where its credentials are, who the user is, which executable
runs, and running it so that its failures are failures.

    credentials_source()        # "KAGGLE_API_TOKEN", "/home/me/.kaggle/kaggle.json", ... or None
    require_credentials()       # the same, or a ClickException saying how to get a token
    kaggle_username()           # "me" from KAGGLE_USERNAME or kaggle.json; never the key
    kaggle_executable()         # $KAGGLE_CLI, else the one beside this Python, else PATH's
    run_kaggle([exe, "datasets", "create", "-p", folder, "--dir-mode", "zip"])
    probe_kaggle([exe, "datasets", "status", "me/eedi-code"])   # (exit code, stdout + stderr)
    require_cli_version(exe, (1, 7, 3), "to submit a notebook")  # (2, 2, 4), or a clear error

Nothing here prints a secret: only where a credential comes from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click

# kaggle 2.x exits 0 on some failures and says so on stdout instead
CLI_ERROR = re.compile(r"^(Dataset (version )?creation error|Kernel push error|Could not find "
                       r"competition|Could not submit to competition)", re.MULTILINE)
VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def _config_dirs(env, home: Path) -> list[Path]:
    """Where the CLI looks for kaggle.json: only KAGGLE_CONFIG_DIR when set, else ~/.kaggle
    and $XDG_CONFIG_HOME/kaggle."""
    if env.get("KAGGLE_CONFIG_DIR"):
        return [Path(env["KAGGLE_CONFIG_DIR"])]
    return [home / ".kaggle", Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"]


def credentials_source(env=None, home=None) -> str | None:
    """Where the kaggle CLI will find credentials (a description, never the secret), or None.

    Mirrors kaggle 2.x's own lookup: an API token (KAGGLE_API_TOKEN or ~/.kaggle/access_token),
    or a legacy key (KAGGLE_USERNAME + KAGGLE_KEY, or kaggle.json in KAGGLE_CONFIG_DIR,
    ~/.kaggle or $XDG_CONFIG_HOME/kaggle).
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    if env.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for name in ("access_token", "access_token.txt"):  # kagglesdk reads only ~/.kaggle's
        if (home / ".kaggle" / name).is_file():
            return str(home / ".kaggle" / name)
    for folder in _config_dirs(env, home):
        if (folder / "kaggle.json").is_file():
            return str(folder / "kaggle.json")
    return None


def require_credentials() -> str:
    source = credentials_source()
    if source is None:
        raise click.ClickException(
            "no Kaggle credentials: create an API token at kaggle.com -> Settings -> API and "
            "save it as ~/.kaggle/access_token (or set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and "
            "KAGGLE_KEY, or put kaggle.json in ~/.kaggle)")
    return source


def kaggle_username(env=None, home=None) -> str | None:
    """The Kaggle user name from KAGGLE_USERNAME or kaggle.json's "username" (looked up where
    the CLI looks). Never reads out the key. An API token alone does not name its user: None."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    if env.get("KAGGLE_USERNAME"):
        return env["KAGGLE_USERNAME"]
    for folder in _config_dirs(env, home):
        path = folder / "kaggle.json"
        if path.is_file():
            try:
                username = json.loads(path.read_text()).get("username")
            except (ValueError, AttributeError):
                raise click.ClickException(f"{path}: not a JSON object") from None
            if username:
                return str(username)
    return None


def kaggle_executable() -> str:
    """$KAGGLE_CLI if set, else the kaggle beside this Python (the venv's), else PATH's."""
    if os.environ.get("KAGGLE_CLI"):
        return os.environ["KAGGLE_CLI"]
    beside = Path(sys.executable).parent / "kaggle"
    if beside.is_file():
        return str(beside)
    return shutil.which("kaggle") or "kaggle"


def run_kaggle(command: list[str], hint: str = "") -> str:
    """Run the CLI, its output shown on stderr as it comes; return that output.

    A non-zero exit, or one of the error lines kaggle 2.x prints while exiting 0, raises a
    ClickException naming the subcommand (and `hint`, what to try).
    """
    what = shlex.join(command[1:3])
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except OSError as e:
        raise click.ClickException(
            f"cannot run the kaggle CLI {command[0]!r}: {e.strerror} (set KAGGLE_CLI)") from None
    out = []
    for line in proc.stdout:
        out.append(line)
        click.echo(line, nl=False, err=True)
    rc = proc.wait()
    text = "".join(out)
    if rc != 0:
        raise click.ClickException(f"kaggle {what} failed (exit code {rc})")
    error = CLI_ERROR.search(text)
    if error:
        line = text[error.start():].splitlines()[0].strip()
        raise click.ClickException(f"kaggle {what} failed: {line}{hint}")
    return text


def probe_kaggle(command: list[str]) -> tuple[int, str]:
    """Run the CLI quietly: (exit code, stdout and stderr together). For look-ups whose
    failure the caller reports itself (a source that does not exist)."""
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except OSError as e:
        raise click.ClickException(
            f"cannot run the kaggle CLI {command[0]!r}: {e.strerror} (set KAGGLE_CLI)") from None
    return proc.returncode, proc.stdout


def cli_version(executable: str) -> tuple[int, ...]:
    """The CLI's version from `kaggle --version` ("Kaggle CLI 2.2.4"; 1.x said "Kaggle API
    1.6.17"). It needs no credentials and no network."""
    rc, out = probe_kaggle([executable, "--version"])
    found = VERSION.search(out) if rc == 0 else None
    if not found:
        raise click.ClickException(f"{executable} --version did not print a version "
                                   f"(exit code {rc}): {out.strip()[-200:]!r}")
    return tuple(int(x) for x in found.groups())


def require_cli_version(executable: str, minimum: tuple[int, ...], what: str) -> tuple[int, ...]:
    version = cli_version(executable)
    if version < minimum:
        need, have = (".".join(map(str, v)) for v in (minimum, version))
        raise click.ClickException(
            f"the kaggle CLI {executable} is {have}; {what} needs >= {need} "
            "(pip install -U kaggle, or set KAGGLE_CLI)")
    return version
