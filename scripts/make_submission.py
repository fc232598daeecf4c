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
import pandas as pd

import common

K = common.SUBMISSION_TOP_K


def build_submission(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking's top 25 per row, joined as Kaggle wants them."""
    top = ranking[ranking["rank"] <= K].sort_values(["QuestionId_Answer", "rank"])
    return (top.groupby("QuestionId_Answer", sort=True)["MisconceptionId"]
            .agg(lambda ids: " ".join(str(int(i)) for i in ids))
            .reset_index())


def validate_submission(submission: pd.DataFrame, expected_rows, known_ids, where) -> None:
    """Raise a DataError naming the first row that Kaggle would reject or score wrongly."""
    if list(submission.columns) != ["QuestionId_Answer", "MisconceptionId"]:
        raise common.DataError(where, None, None,
                               f"header must be QuestionId_Answer,MisconceptionId, "
                               f"not {','.join(submission.columns)}")
    expected = set(expected_rows)
    got = submission["QuestionId_Answer"]
    dup = got[got.duplicated()]
    if len(dup):
        raise common.DataError(where, "QuestionId_Answer", None, f"{dup.iloc[0]} appears twice")
    missing = sorted(expected - set(got))
    if missing:
        raise common.DataError(where, "QuestionId_Answer", None,
                               f"{len(missing)} wrong-answer rows of test.csv are missing, "
                               f"e.g. {missing[0]}")
    extra = sorted(set(got) - expected)
    if extra:
        raise common.DataError(where, "QuestionId_Answer", None,
                               f"{extra[0]} is not a wrong answer of test.csv")
    known = set(int(i) for i in known_ids)
    for i, (qa, ids) in enumerate(zip(got, submission["MisconceptionId"]), start=1):
        values = [int(x) for x in str(ids).split()]
        if len(values) != K or len(set(values)) != K:
            raise common.DataError(where, "MisconceptionId", i,
                                   f"{qa} has {len(values)} ids ({len(set(values))} distinct), "
                                   f"needs {K} distinct")
        unknown = [v for v in values if v not in known]
        if unknown:
            raise common.DataError(where, "MisconceptionId", i,
                                   f"{qa} lists {unknown[0]}, not in misconception_mapping.csv")


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
    common.setup_logging()
    with common.step_timer("submission", ranking=str(ranking)) as record:
        test_rows = common.wide_to_long(common.read_questions_csv(test_csv, labelled=False))
        known_ids = common.read_mapping_csv(mapping)["MisconceptionId"]
        submission = build_submission(common.read_ranking(ranking))
        validate_submission(submission, test_rows["QuestionId_Answer"], known_ids,
                            where=f"submission from {ranking}")
        common.write_csv(submission, out)
        record["rows"] = len(submission)
        common.log.info("wrote %s: %d rows x %d ids", out, len(submission), K)


if __name__ == "__main__":
    main()
