"""Push the Kaggle notebook (make kernel's folder), follow its run, and submit it.

\b
  push    check KERNEL_DIR/kernel-metadata.json and the notebook, check that every source
          it attaches exists (competition, datasets, models, notebooks: one CLI look-up
          each; the CLI itself drops a bad source with a warning and "succeeds"), then
          `kaggle kernels push -p KERNEL_DIR`; the "Kernel version N" it prints is
          appended to RECORD
  status  `kaggle kernels status USER/SLUG`
  output  `kaggle kernels output USER/SLUG -p <temp> -o` into a temp folder beside
          OUT_DIR, renamed to OUT_DIR when complete (submission.csv and the run's log)
  submit  `kaggle competitions submit COMPETITION -k USER/SLUG -v N -f submission.csv
          -m MESSAGE`; N is the last version RECORD has for USER/SLUG unless --version;
          needs kaggle >= 1.7.3 (-k/-v), checked first; appended to RECORD

\b
Reads  KERNEL_DIR/kernel-metadata.json (USER/SLUG is its id) and its code_file
       RECORD (default KERNEL_DIR.pushed.json, beside the folder so that rebuilding the
       folder keeps it): {"pushes": [{"kernel", "version", ...}], "submissions": [...]}
       Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes RECORD (push, submit), OUT_DIR (output)

--dry-run (before the subcommand) prints the exact kaggle command(s), and for push the
files it would send, and touches no network (push still checks the metadata; submit still
runs `kaggle --version`, which is local). The kaggle executable is $KAGGLE_CLI if set, else
the one beside this Python, else the one on PATH.
"""

import datetime
import json
import shlex
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.defaults import COMPETITION
from eedi.errors import DataError
from eedi.files import atomic_folder, write_json
from eedi.kaggle.cli import (kaggle_executable, probe_kaggle, require_credentials,
                             require_cli_version, run_kaggle)
from eedi.kaggle.dataset import git_sha, listing
from eedi.kaggle.kernel import (METADATA, check_sources, dropped_sources, last_line, last_version,
                                placeholder_problem, pushed_version, read_metadata, read_record,
                                source_checks)
from eedi.registry import REPO
from eedi.run_log import log, setup_logging, step_timer

SUBMIT_CLI = (1, 7, 3)  # `competitions submit -k/-v` (code competitions) came in kaggle 1.7.3


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def kernel_ref(ctx, kernel: str | None) -> str:
    """--kernel USER/SLUG, else the id in KERNEL_DIR's metadata (not re-checked here)."""
    if kernel:
        return kernel
    path = ctx.obj["kernel_dir"] / METADATA
    try:
        ref = json.loads(path.read_text()).get("id")
    except (OSError, ValueError, AttributeError) as e:
        raise DataError(path, None, None, f"cannot read the notebook's id ({e}); pass "
                        "--kernel USER/SLUG") from None
    if not ref:
        raise DataError(path, None, None, "no \"id\"")
    return ref


def append_record(path: Path, key: str, entry: dict) -> None:
    record = read_record(path)
    record.setdefault(key, []).append(entry)
    write_json(record, path)


@click.group(help=__doc__)
@click.option("--kernel-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The notebook folder (make kernel's KERNEL_DIR).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path),
              help="Pushed versions and submissions [default: KERNEL_DIR.pushed.json].")
@click.option("--competition", default=COMPETITION, show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the kaggle command(s); touch no network.")
@click.pass_context
def main(ctx, kernel_dir: Path, record: Path | None, competition: str, dry_run: bool):
    setup_logging()
    kernel_dir = kernel_dir.resolve()
    ctx.obj = {"kernel_dir": kernel_dir, "competition": competition, "dry_run": dry_run,
               "record": (record or kernel_dir.with_name(kernel_dir.name + ".pushed.json")),
               "exe": kaggle_executable()}


@main.command(help="Check the metadata and every source, then push; record the version.")
@click.pass_context
def push(ctx):
    o = ctx.obj
    meta = read_metadata(o["kernel_dir"], o["competition"])
    problem = placeholder_problem(meta)
    if problem:  # dry run too: that push would fail
        raise click.ClickException(f"{o['kernel_dir'] / METADATA}: {problem}")
    checks = source_checks(meta, o["exe"])
    command = [o["exe"], "kernels", "push", "-p", str(o["kernel_dir"])]
    if o["dry_run"]:
        for check in checks:
            click.echo(shlex.join(check.command))
        click.echo(shlex.join(command))
        for name in (METADATA, meta["code_file"]):
            size = (o["kernel_dir"] / name).stat().st_size
            click.echo(f"{size:>12,}  {o['kernel_dir'] / name}")
        return
    source = require_credentials()
    log.info("Kaggle credentials from %s", source)
    with step_timer("push-kernel", kernel=meta["id"], sources=len(checks)) as step:
        bad, warnings = check_sources(checks)
        for warning in warnings:
            log.warning("%s", warning)
        if bad:
            lines = "\n".join(f"  {s.kind} {s.ref}: {why}" for s, why in bad)
            raise click.ClickException(
                f"{o['kernel_dir'] / METADATA}: {len(bad)} of {len(checks)} sources cannot be "
                f"found with your credentials; nothing pushed:\n{lines}")
        log.info("all %d sources exist: %s", len(checks), ", ".join(c.ref for c in checks))
        out = run_kaggle(command)
        dropped = dropped_sources(out)
        if dropped:  # checked above, so only a race or a Kaggle-side refusal gets here
            raise click.ClickException("kaggle kernels push dropped sources (the pushed "
                                       "version lacks them; not recorded): " + "; ".join(dropped))
        version = pushed_version(out)
        if version is None:
            raise click.ClickException("kaggle kernels push printed no version number ("
                                       f"{last_line(out)!r}); not recorded: find it on "
                                       "kaggle.com and pass KERNEL_VERSION=N to make submit")
        step["version"] = version
        append_record(o["record"], "pushes", {
            "kernel": meta["id"], "version": version, "time": now(), "git": git_sha(REPO),
            "code_file": meta["code_file"], "machine_shape": meta["machine_shape"],
            "sources": [c.ref for c in checks]})
        click.echo(f"pushed {meta['id']} version {version}; recorded in {o['record']}")


@main.command(help="kaggle kernels status USER/SLUG.")
@click.option("--kernel", help="USER/SLUG [default: the id in kernel-metadata.json].")
@click.pass_context
def status(ctx, kernel: str | None):
    o = ctx.obj
    command = [o["exe"], "kernels", "status", kernel_ref(ctx, kernel)]
    if o["dry_run"]:
        click.echo(shlex.join(command))
        return
    require_credentials()
    rc, out = probe_kaggle(command)
    if rc != 0:
        raise click.ClickException(f"kaggle kernels status failed (exit code {rc}): "
                                   f"{last_line(out)}")
    click.echo(out.rstrip())


@main.command(help="kaggle kernels output USER/SLUG -p OUT_DIR -o (atomically).")
@click.option("--kernel", help="USER/SLUG [default: the id in kernel-metadata.json].")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the run's files go (replaced whole when the download completes).")
@click.pass_context
def output(ctx, kernel: str | None, out_dir: Path):
    o = ctx.obj
    ref = kernel_ref(ctx, kernel)

    def command(folder):
        return [o["exe"], "kernels", "output", ref, "-p", str(folder), "-o"]
    if o["dry_run"]:
        click.echo(shlex.join(command(out_dir)))
        return
    require_credentials()
    with atomic_folder(out_dir) as tmp:
        run_kaggle(command(tmp))
    click.echo(listing(out_dir))
    if not (out_dir / "submission.csv").is_file():
        log.warning("%s has no submission.csv: did the run finish? (make kernel-status)",
                    out_dir)


@main.command(help="Submit a pushed version of the notebook to the competition.")
@click.option("--kernel", help="USER/SLUG [default: the id in kernel-metadata.json].")
@click.option("--version", "version", type=click.IntRange(min=1),
              help="The notebook version [default: the last one push recorded for USER/SLUG].")
@click.option("--message", help="The submission's description [default: 'USER/SLUG vN "
              "(git sha)'].")
@click.option("--file-name", default="submission.csv", show_default=True,
              help="The file the notebook writes.")
@click.pass_context
def submit(ctx, kernel: str | None, version: int | None, message: str | None, file_name: str):
    o = ctx.obj
    cli = require_cli_version(o["exe"], SUBMIT_CLI, "submitting a notebook (-k/-v)")
    ref = kernel_ref(ctx, kernel)
    if version is None:
        version = last_version(read_record(o["record"]), ref)
        if version is None:
            raise click.ClickException(
                f"{o['record']} records no pushed version of {ref}: run make push-kernel "
                "first, or pass KERNEL_VERSION=N (--version N)")
    message = message or f"{ref} v{version} ({git_sha(REPO)})"
    command = [o["exe"], "competitions", "submit", o["competition"], "-k", ref,
               "-v", str(version), "-f", file_name, "-m", message]
    if o["dry_run"]:
        click.echo(shlex.join(command))
        return
    require_credentials()
    with step_timer("submit", kernel=ref, version=version, cli=".".join(map(str, cli))):
        out = run_kaggle(command)
        append_record(o["record"], "submissions", {
            "kernel": ref, "version": version, "competition": o["competition"],
            "message": message, "time": now(), "cli_said": last_line(out)})
    click.echo(f"submitted {ref} version {version} to {o['competition']}: {message!r} "
               "(make submission-time follows it)")


if __name__ == "__main__":
    main()
