"""The notebook's install cell: the wheels dataset installed exactly as tested, then checked.

    install_wheels(wheels_dir, code_dir, freeze_to=working / "image-freeze.txt")

1. A pip freeze (`pip list --format=freeze`) of the image as it is, before anything changes (freeze_to, headed by its
   '# python:' and '# glibc:'): the real image, to refresh constraints-kaggle-image.txt from
   (make image-pins FREEZE=...).
2. `pip install --no-index --no-deps --find-links WHEELS -r WHEELS/requirements-kaggle.txt`:
   exactly the tested set, no resolver on Kaggle (the set is resolved against the image's pins
   here, by make check-kaggle-wheels).
3. `pip check`: a broken requirement of a shipped package, or of one the notebook takes from
   the image (CODE/requirements-kaggle-image.txt), fails; the image's own other breakages (an
   unrelated package wanting an older huggingface-hub, say) are printed as warnings.
4. An import smoke test in a fresh interpreter: every shipped distribution at its pinned
   version (not an older copy of the image's shadowing it), and the library modules the stages
   import (transformers, peft, sentence-transformers, faiss, bitsandbytes, torch behind them).

Any failure raises InstallFailed: one message that says what is wrong and what to do.
Standard library only: it runs before the install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from eedi.kaggle.image import canonical

REQUIREMENTS = "requirements-kaggle.txt"          # beside the wheels (make push-wheels)
VLLM_REQUIREMENTS = "requirements-vllm-kaggle.txt"  # beside the vLLM wheels (make push-vllm-wheels)
VLLM_SITE_ENV = "EEDI_VLLM_SITE"  # the folder the rerank stage puts first on its PYTHONPATH
IMAGE_REQUIREMENTS = "requirements-kaggle-image.txt"  # in the code dataset
# Every third-party import of the notebook's stages sits behind one of these (the smoke test).
SMOKE_IMPORTS = ("pandas", "pyarrow", "torch", "bitsandbytes", "eedi.retrieval.tfidf",
                 "eedi.retrieval.embedding", "eedi.rerank.reranker", "eedi.rerank.reranking",
                 "eedi.ensemble.fusion", "eedi.ensemble.boost", "eedi.submission")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class InstallFailed(Exception):
    pass


def requirement_names(path: Path) -> list[str]:
    """The canonical package names a requirements file lists (comments and versions dropped)."""
    names = []
    for line in Path(path).read_text().splitlines():
        match = NAME.match(line.split("#", 1)[0].strip())
        if match:
            names.append(canonical(match[0]))
    return names


def pinned(path: Path) -> dict[str, str]:
    """{canonical name: version} of a file of name==version lines."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" in text:
            name, _, version = text.partition("==")
            pins[canonical(name.strip())] = version.strip()
    return pins


def install_command(python: str, wheels: Path) -> list[str]:
    return [python, "-m", "pip", "install", "--no-index", "--no-deps", "--find-links",
            str(wheels), "-r", str(wheels / REQUIREMENTS)]


def broken_requirements(pip_check: str, ours: set[str]) -> tuple[list[str], list[str]]:
    """pip check's lines split into (ours, the image's own): a line is ours when the package
    whose requirement is broken is one we ship or rely on. pip's lines read

        peft 0.21.2 requires accelerate, which is not installed.
        datasets 4.0.0 has requirement huggingface-hub<1.0, but you have huggingface-hub 2.4.0.
        foo 1.0 is not supported on this platform
    """
    mine, theirs = [], []
    for line in pip_check.splitlines():
        line = line.strip()
        if not line or line.startswith("No broken requirements"):
            continue
        (mine if canonical(line.split()[0]) in ours else theirs).append(line)
    return mine, theirs


SMOKE = """\
import importlib, importlib.metadata, json, sys
pins, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
wrong = {n: importlib.metadata.version(n) for n, v in pins.items()
         if importlib.metadata.version(n) != v}
if wrong:
    sys.exit("installed versions differ from the shipped wheels: " + ", ".join(
        f"{n} {got} (shipped {pins[n]})" for n, got in wrong.items()))
for m in modules:
    importlib.import_module(m)
print(f"import smoke test: {len(pins)} shipped packages at their versions; {len(modules)} modules import")
"""


def smoke_test(python: str, code: Path, pins: dict[str, str], modules=SMOKE_IMPORTS) -> str:
    """Import `modules` and check `pins` in a fresh `python` (the stages' own view); its output,
    or InstallFailed with the error's last lines."""
    done = subprocess.run([python, "-c", SMOKE, json.dumps(pins), json.dumps(list(modules))],
                          capture_output=True, text=True, cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code / "scripts")})
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise InstallFailed(f"the import smoke test failed:\n{tail}")
    return done.stdout.strip()


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


def install_wheels(wheels: Path | None, code: Path, python: str = sys.executable,
                   freeze_to: Path | None = None, echo=print, modules=SMOKE_IMPORTS) -> None:
    """Steps 1-4 above; wheels None (no wheels dataset attached) skips 2 and 3. modules: what
    the smoke test imports (with CODE/scripts on the path)."""
    if freeze_to is not None:
        # pip list's freeze format: name==version even for what was installed from a file
        # (pip freeze writes "name @ file://..." there, which is no version)
        freeze = _run([python, "-m", "pip", "list", "--format=freeze"])
        version = _run([python, "-c", "import platform; print(platform.python_version(), "
                        "platform.libc_ver()[1])"]).stdout.split()
        Path(freeze_to).write_text(f"# python: {version[0]}\n# glibc: {version[1]}\n" + freeze.stdout)
        echo(f"the image's pip freeze ({len(freeze.stdout.splitlines())} packages): {freeze_to}")
    shipped: dict[str, str] = {}
    if wheels is None:
        echo("no wheels dataset attached: nothing to install")
    else:
        requirements = wheels / REQUIREMENTS
        if not requirements.is_file():
            raise InstallFailed(f"{requirements} not found: make push-wheels puts it beside the "
                                "wheels (re-stage and push the wheels dataset)")
        shipped = pinned(requirements)
        command = install_command(python, wheels)
        echo("$ " + " ".join(command))
        done = _run(command)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
            raise InstallFailed(f"pip could not install the wheels dataset {wheels} (exit code "
                                f"{done.returncode}):\n{tail}")
        echo(f"installed {len(shipped)} packages from {wheels}")
        image_file = code / IMAGE_REQUIREMENTS
        ours = set(shipped) | (set(requirement_names(image_file)) if image_file.is_file() else set())
        check = _run([python, "-m", "pip", "check"])
        mine, theirs = broken_requirements(check.stdout, ours)
        for line in theirs:
            echo(f"warning (the image's own, not used here): {line}")
        if mine:
            raise InstallFailed("pip check: requirements of the packages the notebook uses are "
                                "broken:\n  " + "\n  ".join(mine) + "\nrequirements-kaggle.txt "
                                "must ship what they need (make check-kaggle-wheels resolves it "
                                "against constraints-kaggle-image.txt)")
        echo(f"pip check passed for the {len(ours)} packages the notebook uses"
             + (f" ({len(theirs)} warnings about the image's others)" if theirs else ""))
    echo(smoke_test(python, code, shipped, modules))


def install_vllm(wheels: Path, target: Path, python: str = sys.executable, echo=print) -> Path:
    """The vLLM wheels dataset into a folder of its own (pip --target, --no-deps: exactly its
    requirements-vllm-kaggle.txt), seen only by the rerank stage (PYTHONPATH, VLLM_SITE_ENV):
    vLLM's own dependencies (protobuf, numba, ...) never touch the image the other stages run
    in, and the image's torch 2.10.0 is the one vLLM 0.19.1 was built for. Then `import vllm`
    in a fresh interpreter that sees the folder as the stage will. Returns the folder."""
    requirements = wheels / VLLM_REQUIREMENTS
    if not requirements.is_file():
        raise InstallFailed(f"{requirements} not found: make vllm-wheels stages it beside the "
                            "vLLM wheels (make push-vllm-wheels publishes the dataset)")
    command = [python, "-m", "pip", "install", "--no-index", "--no-deps", "--find-links",
               str(wheels), "--target", str(target), "-r", str(requirements)]
    echo("$ " + " ".join(command))
    done = _run(command)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise InstallFailed(f"pip could not install the vLLM wheels {wheels} into {target}:\n{tail}")
    check = subprocess.run([python, "-c", "import vllm; print('vllm', vllm.__version__)"],
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(
                               filter(None, [str(target), os.environ.get("PYTHONPATH")]))})
    if check.returncode != 0:
        tail = "\n".join(check.stderr.strip().splitlines()[-5:])
        raise InstallFailed(f"vLLM installed in {target} does not import:\n{tail}")
    echo(f"{check.stdout.strip()} in {target} (the rerank stage's PYTHONPATH)")
    os.environ[VLLM_SITE_ENV] = str(target)
    return target
