"""The queue's summary: each finished row's CV beside the baseline's, one line a row.

    labelled = labelled_rows(train_long, folds)            # eedi.folds
    ranks = {row: labelled_ranks(read_ranking(path), labelled) for row, path in finished}
    table = summary_table(rows, results, ranks, labelled, weights=bootstrap_weights(...))
    table.columns  # row, status, settings, map@25, seen, unseen, balanced, vs baseline (95%),
                   # balanced vs baseline (95%), recall@25, recall@100, train_s, elapsed_s,
                   # git, dirty, ranking

`results` are the rows' result records (run_row.py's results/<row>.json): status, the ranking
scored (the row's FINAL), its training seconds, wall time, git sha and dirty flag. The
differences are paired (the same rows, the baseline's and the row's ranking resampled together
over whole questions: eedi.metrics.cv_difference), so a +0.005 with an interval above zero is a
real gain, not fold noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eedi.experiments.notify import duration_text
from eedi.experiments.plan import Row, baseline, differing_settings
from eedi.metrics import cv_difference, cv_metrics, difference_text

COLUMNS = ["row", "status", "settings", "map@25", "seen", "unseen", "balanced",
           "vs baseline (95%)", "balanced vs baseline (95%)", "recall@25", "recall@100",
           "train_s", "elapsed_s", "git", "dirty", "ranking"]


def settings_text(settings: dict[str, str]) -> str:
    """{"TRAIN_ARGS": "--epochs 2", "TOP_N": ""} -> "TRAIN_ARGS=--epochs 2; TOP_N unset"."""
    return "; ".join(f"{k}={v}" if v else f"{k} unset" for k, v in settings.items())


def summary_table(rows: list[Row], results: dict[str, dict], ranks: dict[str, pd.Series],
                  labelled: pd.DataFrame, weights: np.ndarray | None) -> pd.DataFrame:
    """One line per plan row, in plan order (rows not run yet: status "pending").

    In:  rows: the plan; results: {row name: result record} of rows that ended; ranks:
         {row name: labelled_ranks of its ranking} for rows that finished; labelled: the
         labelled rows (eedi.folds.labelled_rows); weights: bootstrap_weights or None.
    Out: DataFrame with COLUMNS; metrics NaN where a row has none.
    """
    base = baseline(rows)
    lines = []
    for row in rows:
        result = results.get(row.name, {})
        line = {"row": row.name, "status": result.get("status", "pending"),
                "settings": "baseline" if row is base else settings_text(differing_settings(row, base)),
                "train_s": result.get("train_s"), "elapsed_s": result.get("elapsed_s"),
                "git": result.get("git", {}).get("sha", ""), "dirty": result.get("git", {}).get("dirty"),
                "ranking": result.get("ranking", "")}
        if row.name in ranks:
            m = cv_metrics(ranks[row.name], labelled)
            line.update({"map@25": m["all"]["map@25"], "seen": m["seen"]["map@25"],
                         "unseen": m["unseen"]["map@25"], "balanced": m["balanced"]["map@25"],
                         "recall@25": m["all"]["recall@25"], "recall@100": m["all"]["recall@100"]})
            if row is not base and base.name in ranks and weights is not None:
                d = cv_difference(ranks[row.name], ranks[base.name], labelled, weights)
                line["vs baseline (95%)"] = difference_text(d["all"])
                line["balanced vs baseline (95%)"] = difference_text(d["balanced"])
                line["_delta"] = d["all"]
        lines.append(line)
    table = pd.DataFrame(lines)
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan
    return table


def markdown(table: pd.DataFrame, title: str) -> str:
    """The table as Markdown (GitHub's), numbers at 4 decimals, seconds whole."""
    shown = table[COLUMNS].copy()
    for column in ("train_s", "elapsed_s"):
        shown[column] = shown[column].map(lambda x: "" if pd.isna(x) else f"{x:.0f}")
    for column in ("map@25", "seen", "unseen", "balanced", "recall@25", "recall@100"):
        shown[column] = shown[column].map(lambda x: "" if pd.isna(x) else f"{x:.4f}")
    shown = shown.fillna("").astype(str)
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    body = "".join("| " + " | ".join(v.replace("|", "\\|") for v in r) + " |\n"
                   for r in shown.itertuples(index=False))
    return f"# {title}\n\n{head}{body}"


def status_line(row: str, result: dict, table: pd.DataFrame) -> str:
    """NOTIFY's line for one row: "epochs2: ok MAP@25 0.3012 (+0.0051 [+0.0010, +0.0093] vs
    baseline) in 1h02m"."""
    line = table.set_index("row").loc[row]
    text = f"{row}: {result.get('status', '?')}"
    if not pd.isna(line["map@25"]):
        text += f" MAP@25 {line['map@25']:.4f}"
        if isinstance(line["vs baseline (95%)"], str) and line["vs baseline (95%)"]:
            text += f" ({line['vs baseline (95%)']} vs baseline)"
    if result.get("elapsed_s") is not None:
        text += f" in {duration_text(result['elapsed_s'])}"
    if result.get("status") not in (None, "ok"):
        text += f"; log {result.get('log', '')}"
    return text


def queue_line(plan_name: str, table, elapsed_s: float | None, summary) -> str:
    """NOTIFY's line at the end: "queue minilm: 3 rows, 2 ok, 1 failed; best epochs2 MAP@25
    0.3012; in 2h10m; RUN/experiments/minilm/summary.md"."""
    counts = table["status"].value_counts()
    parts = [f"queue {plan_name}: {len(table)} rows"] + [f"{n} {s}" for s, n in counts.items()]
    text = ", ".join(parts)
    done = table[table["map@25"].notna()]
    if len(done):
        best = done.loc[done["map@25"].idxmax()]
        text += f"; best {best['row']} MAP@25 {best['map@25']:.4f}"
    if elapsed_s is not None:
        text += f"; in {duration_text(elapsed_s)}"
    return f"{text}; {summary}"


def plot(table: pd.DataFrame):
    """Each finished row's MAP@25 (dot) with the 95% interval of its paired difference to the
    baseline drawn around it (the baseline's MAP + the delta's interval); dashed: the baseline.
    Out: a matplotlib Figure (eedi.report.png makes it bytes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    done = table[table["map@25"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(done), 2) + 1.2))
    y = np.arange(len(done))[::-1]
    ax.scatter(done["map@25"], y, color="C0", zorder=3)
    for yi, (_, r) in zip(y, done.iterrows()):
        delta = r.get("_delta")
        if isinstance(delta, dict) and np.isfinite(delta.get("delta_lo", np.nan)):
            base = r["map@25"] - delta["delta_map@25"]
            ax.plot([base + delta["delta_lo"], base + delta["delta_hi"]], [yi, yi], color="C0")
    if (done["settings"] == "baseline").any():
        ax.axvline(done.loc[done["settings"] == "baseline", "map@25"].iloc[0], color="grey",
                   linestyle="--", linewidth=1)
    ax.set_yticks(y, done["row"])
    ax.set_xlabel("CV MAP@25 (line: 95% interval of the paired difference to the baseline)")
    fig.tight_layout()
    return fig
