"""Resolve vLLM for Kaggle's image and write requirements-vllm-kaggle.txt, the vLLM wheels' lock.

\b
Reads  IMAGE        constraints-kaggle-image.txt: Kaggle's Python, glibc and package versions
       SHIPPED      requirements-kaggle.txt: what the notebook's wheels already install
       the package index, through pip's resolver (metadata only: nothing is installed)
Writes OUT          requirements-vllm-kaggle.txt: every package vLLM needs on Kaggle that
                    neither the image (for HELD) nor the shipped wheels provide, name==version

    pip install --dry-run --target T --only-binary=:all: --python-version 3.12
        --platform manylinux_2_35_x86_64 ... -c <HELD at the image's versions + SHIPPED>
        --report R vllm==VERSION

HELD are the packages vLLM must share with the image, never replaced: torch and its CUDA
libraries (nvidia-*, triton), torchvision, torchaudio and numpy. vLLM 0.19.1 pins
torch==2.10.0, the image's own, so nothing of the image's CUDA stack is shipped; a vLLM whose
torch differs fails here, naming the conflict. The notebook installs the lock into a folder of
its own (pip --target) that only the rerank stage puts on its PYTHONPATH (eedi/kaggle/install.py).
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.files import write_text
from eedi.kaggle.image import canonical, read_image
from eedi.kaggle.wheels import pip_errors, pip_platforms, read_pins
from eedi.registry import REPO
from eedi.run_log import log, setup_logging

HELD = re.compile(r"torch|torchvision|torchaudio|triton|numpy|nvidia-.*|cuda-.*")


def resolve_command(python: str, python_version: str, glibc: str, constraints: Path,
                    report: Path, requirement: str) -> list[str]:
    # --target: pip wants one with platform options; --dry-run installs nothing there
    command = [python, "-m", "pip", "install", "--dry-run", "--target",
               str(report.parent / "target"),
               "--only-binary=:all:", "--python-version", python_version, "--implementation",
               "cp", "--abi", "cp" + python_version.replace(".", "")]
    for platform in pip_platforms(glibc):
        command += ["--platform", platform]
    return command + ["-c", str(constraints), "--report", str(report), requirement]


@click.command(help=__doc__)
@click.option("--vllm", "version", default="0.19.1", show_default=True,
              help="The vLLM version (0.19.1: the newest built for CUDA 12 on PyPI, torch 2.10.0).")
@click.option("--image", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=REPO / "constraints-kaggle-image.txt", show_default=True)
@click.option("--shipped", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=REPO / "requirements-kaggle.txt", show_default=True)
@click.option("--python", "python", default=sys.executable, show_default=True,
              help="The Python whose pip resolves: of the image's version (.venv-kaggle's), as "
              "pip reads markers such as python_version > '3.11' for the Python it runs in.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=REPO / "requirements-vllm-kaggle.txt", show_default=True)
def main(version: str, image: Path, shipped: Path, python: str, out: Path):
    setup_logging()
    kaggle = read_image(image)
    running = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    if running != kaggle.python_minor:
        raise click.BadParameter(f"{python} is Python {running}; Kaggle's is {kaggle.python_minor}, "
                                 "and pip evaluates markers for the Python it runs in "
                                 "(.venv-kaggle/bin/python is the image's)", param_hint="--python")
    shipped_pins = read_pins(shipped)
    held = {n: v for n, v in kaggle.pins.items() if HELD.fullmatch(n)}
    with tempfile.TemporaryDirectory() as tmp:
        constraints, report = Path(tmp) / "constraints.txt", Path(tmp) / "report.json"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in held.items())
                               + "\n".join(shipped_pins) + "\n")
        command = resolve_command(python, kaggle.python_minor, kaggle.glibc, constraints,
                                  report, f"vllm=={version}")
        log.info("resolving vllm==%s for Python %s, glibc %s (%d held at the image's "
                 "versions, %d shipped)", version, kaggle.python_minor, kaggle.glibc, len(held),
                 len(shipped_pins))
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise click.ClickException(f"pip cannot resolve vllm=={version} on Kaggle's image:\n"
                                       + "\n".join(pip_errors(done.stdout + done.stderr)
                                                   or done.stderr.splitlines()[-8:]))
        installs = json.loads(report.read_text())["install"]
    skip = set(held) | {canonical(p.split("==")[0]) for p in shipped_pins}
    lines = []
    for item in installs:
        name, ver = item["metadata"]["name"], item["metadata"]["version"]
        if canonical(name) in skip:
            continue
        lines.append(f"{name}=={ver}")
    header = [
        f"# vLLM {version} for Kaggle's image (Python {kaggle.python}, glibc {kaggle.glibc}): what",
        "# it needs there beyond the image's torch/CUDA/numpy and the notebook's wheels",
        "# (requirements-kaggle.txt). Written by scripts/kaggle/vllm_lock.py (make vllm-lock);",
        "# make vllm-wheels downloads it, make push-vllm-wheels publishes it as eedi-vllm-wheels,",
        "# the notebook installs it into a folder only the rerank stage sees.",
    ]
    write_text("\n".join(header + sorted(lines, key=str.lower)) + "\n", out)
    log.info("wrote %s: %d packages", out, len(lines))


if __name__ == "__main__":
    main()
