"""Write Kaggle's submission.csv from a ranking of test, validated before it is written.

\b
Reads  RANKING  a ranking of test (the ranking contract)
       TEST_CSV Kaggle's test.csv: the rows the submission must have
       MAPPING  misconception_mapping.csv: the ids it may use
Writes OUT      QuestionId_Answer,MisconceptionId with the 25 best ids per wrong answer,
                space-separated, best first

The checks are Kaggle's: every wrong-answer row of test.csv present exactly once, no other row,
25 distinct ids per row, each a known misconception. A failed check writes nothing.
"""

from pathlib import Path

import click

from eedi.defaults import SUBMISSION_TOP_K
from eedi.files import write_csv
from eedi.kaggle_csv import read_mapping_csv, read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import read_ranking
from eedi.run_log import log, setup_logging, step_timer
from eedi.submission import build_submission, validate_submission


@click.command(help=__doc__)
@click.option("--ranking", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Ranking Parquet of test.")
@click.option("--test-csv", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Kaggle's test.csv.")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Kaggle's misconception_mapping.csv.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="submission.csv to write.")
def main(ranking: Path, test_csv: Path, mapping: Path, out: Path):
    setup_logging()
    with step_timer("submission", ranking=str(ranking)) as record:
        test_rows = wide_to_long(read_questions_csv(test_csv, labelled=False))
        known_ids = read_mapping_csv(mapping)["MisconceptionId"]
        submission = build_submission(read_ranking(ranking))
        validate_submission(submission, test_rows["QuestionId_Answer"], known_ids,
                            where=f"submission from {ranking}")
        write_csv(submission, out)
        record["rows"] = len(submission)
        log.info("wrote %s: %d rows x %d ids", out, len(submission), SUBMISSION_TOP_K)


if __name__ == "__main__":
    main()
