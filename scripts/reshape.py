"""Reshape Kaggle's wide CSVs into the long tables every later step reads.

\b
Reads  DATA_DIR/train.csv, DATA_DIR/test.csv, DATA_DIR/misconception_mapping.csv
Writes OUT_DIR/train_long.parquet     one row per (question, wrong answer), MisconceptionId
                                      nullable (an empty cell in train.csv)
       OUT_DIR/test_long.parquet      the same for test, MisconceptionId all <NA>
       OUT_DIR/misconceptions.parquet MisconceptionId, MisconceptionName, train_count,
                                      seen_in_train

All three inputs are validated before anything is written: bad input stops with one error
naming the file, column and row, and leaves no output behind. An output whose bytes would not
change keeps its file and mtime: an edit of test.csv re-runs this step and test's stages, but
no training.
"""

from pathlib import Path

import click

from eedi.files import write_parquet
from eedi.kaggle_csv import read_mapping_csv, read_questions_csv
from eedi.long_table import misconception_table, wide_to_long
from eedi.run_log import log, setup_logging, step_timer


@click.command(help=__doc__)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder with Kaggle's train.csv, test.csv, misconception_mapping.csv.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the three Parquet files go.")
def main(data_dir: Path, out_dir: Path):
    setup_logging()
    with step_timer("reshape", data_dir=str(data_dir)) as record:
        mapping = read_mapping_csv(data_dir / "misconception_mapping.csv")
        train = read_questions_csv(data_dir / "train.csv", labelled=True,
                                   known_ids=mapping["MisconceptionId"])
        test = read_questions_csv(data_dir / "test.csv", labelled=False)

        train_long = wide_to_long(train)
        test_long = wide_to_long(test)
        misconceptions = misconception_table(mapping, train_long)

        write_parquet(train_long, out_dir / "train_long.parquet", keep_unchanged=True)
        write_parquet(test_long, out_dir / "test_long.parquet", keep_unchanged=True)
        write_parquet(misconceptions, out_dir / "misconceptions.parquet", keep_unchanged=True)

        labelled = int(train_long["MisconceptionId"].notna().sum())
        record.update(train_questions=len(train), train_rows=len(train_long),
                      train_labelled=labelled, test_questions=len(test),
                      test_rows=len(test_long), misconceptions=len(misconceptions),
                      seen_in_train=int(misconceptions["seen_in_train"].sum()))
        log.info("train: %d questions -> %d wrong-answer rows (%d with a misconception); "
                 "test: %d questions -> %d rows; %d misconceptions, %d seen in train",
                 len(train), len(train_long), labelled, len(test), len(test_long),
                 len(misconceptions), record["seen_in_train"])


if __name__ == "__main__":
    main()
