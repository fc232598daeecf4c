"""The CV report: a page a person would rather read than a table.

    figures = {
        "map_per_fold": map_per_fold(cv),           # MAP@25 per ranking, each fold a dot
        "recall_curves": recall_curves(ranks),      # recall@K, K = 1..100, one line per ranking
        "seen_unseen": seen_unseen(cv),             # MAP@25 on seen, unseen and 50/50 rows
        "fusion_weights": fusion_weights(fusion),   # each member's weight, all folds and per fold
        "cascade": cascade_curve(cascade),          # MAP@25 vs pairs scored per row
    }
    html = page(cv, figures, fusion=..., boost=..., cascade=...)   # one self-contained file

cv: evaluate.py's JSON {ranking: {slice: metrics}}; ranks: {ranking: gold rank per labelled row}.
Figures are matplotlib (Agg) Figure objects; page() embeds them as PNG.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eedi.metrics import difference_text  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _folds(by_slice: dict) -> list[str]:
    return sorted((s for s in by_slice if s.startswith("fold")), key=lambda s: int(s[4:]))


def map_per_fold(cv: dict):
    """Bars: each ranking's MAP@25 over all rows; dots: each fold's."""
    names = list(cv)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4))
    ax.bar(range(len(names)), [cv[n]["all"]["map@25"] for n in names],
           color=[COLORS[i % len(COLORS)] for i in range(len(names))], alpha=0.6)
    for i, n in enumerate(names):
        folds = [cv[n][f]["map@25"] for f in _folds(cv[n])]
        ax.scatter(np.full(len(folds), i) + np.linspace(-0.2, 0.2, len(folds)), folds,
                   color="black", s=12, zorder=3)
        # the label above the bar and every dot, so none covers it
        ax.annotate(f"{cv[n]['all']['map@25']:.4f}", (i, max([cv[n]["all"]["map@25"], *folds])),
                    xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("MAP@25 (out-of-fold)")
    ax.set_title("CV MAP@25: bars all rows, dots one per fold")
    fig.tight_layout()
    return fig


def recall_curves(ranks: dict[str, pd.Series], max_k: int = 100):
    """recall@K for K = 1..max_k, one line per ranking (log-scaled K)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ks = np.arange(1, max_k + 1)
    for name, r in ranks.items():
        r = np.asarray(r, dtype=float)
        ax.plot(ks, [(r <= k).mean() for k in ks], label=name)
    ax.axvline(25, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xticks([1, 5, 10, 25, 50, 100])
    ax.set_xlabel("K (candidates kept)")
    ax.set_ylabel("recall@K")
    ax.set_title("Share of labelled rows whose gold is in the top K")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def seen_unseen(cv: dict):
    """Grouped bars: MAP@25 on seen rows, unseen rows and the 50/50 balanced mix."""
    names = list(cv)
    slices = [s for s in ("seen", "unseen", "balanced") if all(s in cv[n] for n in names)]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4))
    width = 0.8 / max(len(slices), 1)
    for j, s in enumerate(slices):
        values = [cv[n][s]["map@25"] for n in names]
        ax.bar(np.arange(len(names)) + (j - (len(slices) - 1) / 2) * width, values, width,
               label=f"{s} ({cv[names[0]][s]['rows']} rows)" if s != "balanced" else "50/50")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("MAP@25")
    ax.set_title("MAP@25 by gold misconception: seen vs unseen in the training folds",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fusion_weights(fusion: dict):
    """Horizontal bars: each member's weight tuned on all folds; dots: per fold."""
    members = fusion["members"]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(members) + 1.5))
    ax.barh(range(len(members)), [fusion["weights"][m] for m in members], alpha=0.6)
    for i, m in enumerate(members):
        per = [w[m] for w in fusion["per_fold"].values()]
        ax.scatter(per, np.full(len(per), i), color="black", s=12, zorder=3)
    ax.set_yticks(range(len(members)), members, fontsize=8)
    ax.set_xlabel("weight (sum 1)")
    ax.set_title(f"Fusion weights ({fusion['method']}): bar all folds, dots per fold")
    fig.tight_layout()
    return fig


def cascade_curve(cascade: dict):
    """MAP@25 against pairs the later stage scores per row, one line per delta; the
    ceiling (the earlier stage's recall inside the cut) dashed."""
    rows = pd.DataFrame(cascade["rows"])
    cut = rows[pd.to_numeric(rows["top_n"], errors="coerce") > 0].copy()
    cut["delta"] = cut["delta"].astype(object).where(cut["delta"].notna(), "none")
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (delta, part) in enumerate(cut.groupby("delta", sort=False)):
        part = part.sort_values("pairs_per_row")
        color = COLORS[i % len(COLORS)]
        ax.plot(part["pairs_per_row"], part["map@25"], marker="o", color=color, label=f"delta {delta}")
        for _, r in part.iterrows():
            ax.annotate(str(r["top_n"]), (r["pairs_per_row"], r["map@25"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    earlier = rows[rows["top_n"] == 0]["map@25"].iloc[0]
    later = rows[rows["top_n"] == "all"]["map@25"].iloc[0]
    ax.axhline(earlier, color="grey", ls=":", label=f"{cascade['earlier']} alone")
    ax.axhline(later, color="black", ls="--", lw=0.8, label=f"{cascade['later']} alone")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    # ticks at the top-N cuts only: the delta points sit between them and their labels collide
    ax.set_xticks(sorted({int(n) for n in cut["top_n"]}))
    ax.set_xlabel(f"pairs {cascade['later']} scores per row (log scale)")
    ax.set_ylabel("MAP@25")
    ax.set_title(f"Cascade: {cascade['later']} reorders {cascade['earlier']}'s top N (points: N)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _table(df: pd.DataFrame) -> str:
    """HTML, floats to 4 places, whole-number columns as integers (a count that a missing
    value made float, e.g. the cascade's pairs, reads 6000, not 6000.0000)."""
    whole = {c: (lambda x: f"{x:.0f}") for c in df.select_dtypes("number")
             if df[c].dropna().map(float.is_integer).all() and df[c].notna().any()}
    return df.to_html(index=False, float_format=lambda x: f"{x:.4f}", formatters=whole,
                      na_rep="-", border=0, classes="t")


def cv_table(cv: dict) -> pd.DataFrame:
    vs = f"vs {next(iter(cv))} (95%)"  # evaluate.py's differences to its first ranking
    lines = []
    for name, by_slice in cv.items():
        folds = [by_slice[f]["map@25"] for f in _folds(by_slice)]
        lines.append({"ranking": name, "MAP@25": by_slice["all"]["map@25"],
                      "fold min": min(folds, default=np.nan), "fold max": max(folds, default=np.nan),
                      "seen": by_slice.get("seen", {}).get("map@25"),
                      "unseen": by_slice.get("unseen", {}).get("map@25"),
                      "50/50": by_slice.get("balanced", {}).get("map@25"),
                      **{f"recall@{k}": by_slice["all"].get(f"recall@{k}") for k in (1, 25, 100)},
                      vs: difference_text(by_slice["all"])})
    table = pd.DataFrame(lines)
    return table if (table[vs] != "").any() else table.drop(columns=vs)


def _head(title: str) -> list[str]:
    return [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
            "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{padding:3px 8px;"
            "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>"]


def _figures(figures: dict[str, bytes]) -> list[str]:
    return [f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' "
            f"src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
            for name, data in figures.items()]


def table_page(title: str, tables: dict[str, pd.DataFrame], figures: dict[str, bytes],
               note: str = "") -> str:
    """A self-contained page of headed tables, a note, then figures (the experiments page)."""
    parts = _head(title) + ([f"<p>{html.escape(note)}</p>"] if note else [])
    for heading, df in tables.items():
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(df)]
    return "\n".join(parts + _figures(figures) + ["</body></html>"])


def page(title: str, cv: dict, figures: dict[str, bytes], fusion: list[dict] = (),
         boost: list[tuple[str, dict]] = (), cascade: list[dict] = ()) -> str:
    """One self-contained HTML page: tables, then each figure as an embedded PNG."""
    parts = _head(title) + ["<h2>CV MAP@25 per ranking</h2>", _table(cv_table(cv))]
    for f in fusion:
        parts += [f"<h2>Fusion ({html.escape(f['method'])}) of {html.escape(', '.join(f['members']))}</h2>",
                  f"<p>Weights tuned on all folds (applied to test): {html.escape(str(f['weights']))}; "
                  f"per fold (each tuned without its fold): {html.escape(str(f['per_fold']))}; "
                  f"{f['tuning_seconds']} s of tuning.</p>"]
    for name, b in boost:
        parts += [f"<h2>Unseen boost of {html.escape(name)}</h2>",
                  f"<p>C on all folds: {b.get('c')} ({html.escape(str(b.get('objective') or 'top1_share ' + str(b.get('top1_share'))))}); "
                  f"per fold: {html.escape(str(b['per_fold']))}.</p>"]
    for c in cascade:
        parts += [f"<h2>Cascade: {html.escape(c['later'])} over {html.escape(c['earlier'])}</h2>",
                  _table(pd.DataFrame(c["rows"]))]
    parts += _figures(figures)
    parts.append("</body></html>")
    return "\n".join(parts)
