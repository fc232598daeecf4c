"""Download the competition's CSVs with the kaggle CLI.

\b
Reads  Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes OUT_DIR/train.csv, OUT_DIR/test.csv, OUT_DIR/misconception_mapping.csv,
       OUT_DIR/sample_submission.csv

The archive is downloaded and unpacked into a temp folder beside OUT_DIR and the CSVs are moved
in only once all are there, so an interrupted download leaves OUT_DIR as it was. --dry-run
prints the command instead of running it. You must have accepted the competition's rules on
kaggle.com first, or the CLI answers 403.
"""

import shlex
import tempfile
import zipfile
from pathlib import Path

import click

from eedi.defaults import COMPETITION
from eedi.kaggle.cli import kaggle_executable, require_credentials, run_kaggle
from eedi.run_log import log, setup_logging, step_timer

FILES = ("train.csv", "test.csv", "misconception_mapping.csv", "sample_submission.csv")


@click.command(help=__doc__)
@click.option("--competition", default=COMPETITION, show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--dry-run", is_flag=True, help="Print the kaggle command; download nothing.")
def main(competition: str, out_dir: Path, dry_run: bool):
    setup_logging()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".download-") as tmp:
        command = [kaggle_executable(), "competitions", "download", "-c", competition, "-p", tmp]
        if dry_run:
            click.echo(shlex.join(command))
            return
        log.info("Kaggle credentials from %s", require_credentials())
        with step_timer("download", competition=competition):
            run_kaggle(command)
            for archive in Path(tmp).glob("*.zip"):
                with zipfile.ZipFile(archive) as z:
                    z.extractall(tmp)
            missing = [f for f in FILES if not (Path(tmp) / f).is_file()]
            if missing:
                raise click.ClickException(f"the download has no {', '.join(missing)}")
            for f in FILES:
                (Path(tmp) / f).replace(out_dir / f)
        log.info("wrote %s", ", ".join(str(out_dir / f) for f in FILES))


if __name__ == "__main__":
    main()
