"""The notebook's first submission, written before any install can fail or eat the time:
TF-IDF over the competition's own CSVs, with only what Kaggle's image already has (pandas,
scikit-learn), in memory.

    rows = write_fallback(competition_dir, working_dir / "submission.csv")
    # competition_dir: test.csv, misconception_mapping.csv; -> the rows written (wrong answers)

The pipeline (scripts/kaggle/infer.py) overwrites it with each better ranking it makes; if
every later stage fails or runs out of time, this one scores.
"""

from __future__ import annotations

from pathlib import Path

from eedi.defaults import SUBMISSION_TOP_K
from eedi.files import write_csv
from eedi.kaggle_csv import read_mapping_csv, read_questions_csv
from eedi.long_table import wide_to_long
from eedi.retrieval.tfidf import tfidf_ranking
from eedi.submission import build_submission, validate_submission


def write_fallback(competition: Path, out: Path) -> int:
    """TF-IDF's top SUBMISSION_TOP_K for every wrong answer of competition/test.csv -> out
    (temp file + rename); -> the number of rows."""
    competition = Path(competition)
    mapping = read_mapping_csv(competition / "misconception_mapping.csv")
    names = dict(zip(mapping["MisconceptionId"].astype(int), mapping["MisconceptionName"]))
    rows = wide_to_long(read_questions_csv(competition / "test.csv", labelled=False))
    submission = build_submission(tfidf_ranking(rows, names, SUBMISSION_TOP_K))
    validate_submission(submission, rows["QuestionId_Answer"], mapping["MisconceptionId"],
                        where="the fallback submission (TF-IDF)")
    write_csv(submission, out)
    return len(submission)


def main(argv=None) -> int:
    """python -m eedi.kaggle.fallback COMPETITION_DIR OUT: the notebook runs it in a process of
    its own, so the kernel imports nothing (pandas, numpy) that the wheels install replaces."""
    import sys
    competition, out = (argv if argv is not None else sys.argv[1:])
    print(f"fallback submission: {write_fallback(Path(competition), Path(out))} rows "
          f"(TF-IDF) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
