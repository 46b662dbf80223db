"""`reasonembed report DIR`: report.md and PNG plots of a `reasonembed generate` output folder.

Reads DIR/raw/*.parquet (the `raw` config, records.RAW_SCHEMA plus the triviality_* and
decontamination_* columns) and DIR/stats.json; writes DIR/report/ (or --output):

    report.md                overview, funnel, drop reasons, triviality and decontamination tables
    relevance_scores.png     histogram of the annotators' relevance scores (1-5, unparsed)
    positives_negatives.png  positives and negatives per query
    triviality.png           distributions of the triviality metrics
    domains.png              samples per domain
    funnel.png               rows kept at each stage, seeds to samples, and drops by reason

Reads stats.json through `reasonembed.stats.RunStats` (the funnel with its drops by reason, the
quality section) and streams DIR/raw/*.parquet a batch at a time, reading only the columns the
plots need (never the texts): memory is bounded by the batch and a few numbers per sample.
`write_report` also writes the sample browser (report/index.html, reasonembed.quality.browse).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from reasonembed.errors import UserError  # noqa: E402
from reasonembed.quality import triviality as tv  # noqa: E402
from reasonembed.quality.browse import BROWSER_FILE, DEFAULT_BROWSE_LIMIT, write_browser  # noqa: E402
from reasonembed.stats import RunStats  # noqa: E402

logger = logging.getLogger(__name__)

REPORT_FOLDER = "report"
REPORT_FILE = "report.md"
PLOT_FILES = (
    "relevance_scores.png",
    "positives_negatives.png",
    "triviality.png",
    "domains.png",
    "funnel.png",
)
POSITIVE_COLOR = "#2a9d8f"
NEGATIVE_COLOR = "#e76f51"
NEUTRAL_COLOR = "#457b9d"
MUTED_COLOR = "#adb5bd"

# (column, axis label, log scale) of the triviality panels
TRIVIALITY_PANELS = (
    (tv.TRIVIALITY_SOURCE_COPY_SHARE, "longest run copied from source\n(share of query)", False),
    (tv.TRIVIALITY_SOURCE_NGRAM_OVERLAP, "query 5-grams found in source\n(share)", False),
    (tv.TRIVIALITY_SOURCE_COPY_CHARS, "longest run copied from source\n(characters)", False),
    (tv.TRIVIALITY_SOURCE_DENSE_RANK, "rank of source, dense retriever\n(whole corpus)", True),
    (tv.TRIVIALITY_SOURCE_BM25_RANK, "rank of source, BM25\n(whole corpus)", True),
    (tv.TRIVIALITY_BEST_POSITIVE_RANK, "best retrieval rank of a positive", True),
)
# (column, config key) of the thresholds drawn on the triviality panels
THRESHOLD_LINES = {
    tv.TRIVIALITY_SOURCE_COPY_SHARE: "max_source_copy_share",
    tv.TRIVIALITY_SOURCE_COPY_CHARS: "max_source_copy_chars",
    tv.TRIVIALITY_SOURCE_NGRAM_OVERLAP: "max_source_ngram_overlap",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="a `reasonembed generate` output folder")
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write (default: DIR/report)"
    )
    parser.add_argument(
        "--browse-limit",
        type=int,
        default=DEFAULT_BROWSE_LIMIT,
        help="queries per domain in the sample browser, report/index.html (a deterministic "
        f"sample; default {DEFAULT_BROWSE_LIMIT})",
    )


@dataclass
class ReportData:
    """What the plots and tables need from `raw`, a few numbers per sample."""

    samples: int = 0
    candidates: int = 0
    score_counts: Counter = field(default_factory=Counter)  # relevance score (None: unparsed)
    domains: Counter = field(default_factory=Counter)
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """All values of a numeric column (nulls as NaN)."""
        parts = self.columns.get(name) or []
        return np.concatenate(parts) if parts else np.zeros(0)


NUMERIC_COLUMNS = ("n_positives", "n_negatives", *(panel[0] for panel in TRIVIALITY_PANELS))


def read_report_data(folder: Path, batch_rows: int = 2_048) -> ReportData:
    """Stream folder/raw/*.parquet into a ReportData."""
    shards = sorted((folder / "raw").glob("*.parquet"))
    if not shards:
        raise UserError(
            f"no raw parquet files under {folder / 'raw'}: pass the output folder of "
            "`reasonembed generate` (it holds raw/train-*.parquet)"
        )
    data = ReportData()
    for shard in shards:
        parquet = pq.ParquetFile(shard)
        present = set(parquet.schema_arrow.names)
        wanted = ["domain", "candidates", *(c for c in NUMERIC_COLUMNS if c in present)]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
            data.samples += batch.num_rows
            data.domains.update(batch.column("domain").to_pylist())
            scores = pc.struct_field(pc.list_flatten(batch.column("candidates")), "relevance_score")
            data.candidates += len(scores)
            data.score_counts.update(scores.to_pylist())
            for name in NUMERIC_COLUMNS:
                if name in present:
                    values = batch.column(name).to_numpy(zero_copy_only=False)
                    data.columns.setdefault(name, []).append(values.astype(np.float64))
    return data


# --- plots -----------------------------------------------------------------------------------
def _finish(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _label_bars(ax, bars, values, horizontal: bool = False) -> None:
    for bar, value in zip(bars, values, strict=True):
        if horizontal:
            ax.annotate(
                f"{value:,}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        else:
            ax.annotate(
                f"{value:,}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=9,
            )


def plot_relevance_scores(data: ReportData, path: Path, min_positive_score: int) -> None:
    counts = data.score_counts
    labels = ["1", "2", "3", "4", "5", "unparsed"]
    values = [counts.get(score, 0) for score in range(1, 6)] + [counts.get(None, 0)]
    colors = [
        POSITIVE_COLOR if score >= min_positive_score else NEGATIVE_COLOR for score in range(1, 6)
    ] + [MUTED_COLOR]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(labels, values, color=colors)
    _label_bars(ax, bars, values)
    ax.set_xlabel("relevance score (annotator)")
    ax.set_ylabel("candidates")
    ax.set_title(
        f"Relevance scores of {sum(values):,} candidates (positive: score >= {min_positive_score})"
    )
    ax.margins(y=0.15)
    ax.spines[["top", "right"]].set_visible(False)
    _finish(fig, path)


def _integer_histogram(ax, values: list[int], color: str, label: str) -> None:
    if not values:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
        return
    top = max(values)
    bins = np.arange(-0.5, top + 1.5, 1) if top <= 40 else 30
    ax.hist(values, bins=bins, color=color, edgecolor="white")
    mean = float(np.mean(values))
    ax.axvline(mean, color="black", linestyle="--", linewidth=1)
    ax.text(0.98, 0.95, f"mean {mean:.1f}", ha="right", va="top", transform=ax.transAxes)
    ax.set_xlabel(label)
    ax.set_ylabel("queries")
    ax.spines[["top", "right"]].set_visible(False)


def plot_positives_negatives(data: ReportData, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _integer_histogram(
        axes[0],
        data.column("n_positives").astype(int).tolist(),
        POSITIVE_COLOR,
        "positives per query",
    )
    _integer_histogram(
        axes[1],
        data.column("n_negatives").astype(int).tolist(),
        NEGATIVE_COLOR,
        "negatives per query",
    )
    fig.suptitle(f"Positives and negatives per query ({data.samples:,} queries)")
    _finish(fig, path)


def plot_triviality(data: ReportData, path: Path, config: dict) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (column, label, log_scale) in zip(axes.flat, TRIVIALITY_PANELS, strict=True):
        values = data.column(column)
        values = values[~np.isnan(values)]
        ax.set_xlabel(label)
        ax.set_ylabel("queries")
        ax.spines[["top", "right"]].set_visible(False)
        if values.size == 0:
            ax.text(
                0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes,
                color="gray",
            )  # fmt: skip
            ax.set_yticks([])
            continue
        threshold = config.get(THRESHOLD_LINES.get(column, ""), None)
        if log_scale:
            top = max(float(values.max()), 2.0)
            edges = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
            bins = [edge for edge in edges if edge <= top] + [top + 1]
            ax.hist(values, bins=bins, color=NEUTRAL_COLOR, edgecolor="white")
            ax.set_xscale("log")
            ax.set_xticks(bins[:-1])  # the bin edges, as plain integers
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            note = f"rank 1: {float(np.mean(values == 1)):.0%}"
        else:
            top = max(float(values.max()), float(threshold or 0))
            ax.hist(
                values,
                bins=np.linspace(0, top * 1.02 or 1, 26),
                color=NEUTRAL_COLOR,
                edgecolor="white",
            )
            note = f"median {np.median(values):.3g}"
        ax.margins(y=0.25)
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.text(0.98, 0.97, note, ha="right", va="top", transform=ax.transAxes)
        if threshold is not None:
            ax.axvline(threshold, color=NEGATIVE_COLOR, linestyle="--", linewidth=1.5)
            ax.text(
                threshold, 0.85, f"drop >= {threshold:g} ", color=NEGATIVE_COLOR, fontsize=9,
                ha="right", transform=ax.get_xaxis_transform(),
            )  # fmt: skip
    fig.suptitle(
        f"Triviality of {data.samples:,} samples (lower copy, higher source rank = harder)"
    )
    _finish(fig, path)


def plot_domains(data: ReportData, path: Path) -> None:
    counts = data.domains
    domains = sorted(counts, key=lambda name: counts[name])
    values = [counts[name] for name in domains]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(domains) + 1.5))
    bars = ax.barh(domains, values, color=NEUTRAL_COLOR)
    _label_bars(ax, bars, values, horizontal=True)
    ax.set_xlabel("samples")
    ax.set_title(f"Domain mix ({sum(values):,} samples)")
    ax.margins(x=0.15)
    ax.spines[["top", "right"]].set_visible(False)
    _finish(fig, path)


def plot_funnel(stats: RunStats, path: Path) -> None:
    funnel = [entry.model_dump() for entry in stats.funnel]
    drops = stats.drops
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.5 * max(len(funnel), len(drops), 3) + 2))
    ax = axes[0]
    if funnel:
        stages = [entry["stage"] for entry in funnel][::-1]
        values = [int(entry["count"]) for entry in funnel][::-1]
        bars = ax.barh(stages, values, color=NEUTRAL_COLOR)
        _label_bars(ax, bars, values, horizontal=True)
        ax.margins(x=0.2)
    else:
        ax.text(
            0.5, 0.5, "no funnel in stats.json", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_title("Rows kept at each stage")
    ax.set_xlabel("rows")
    ax.spines[["top", "right"]].set_visible(False)
    ax = axes[1]
    if drops:
        reasons = sorted(drops, key=lambda reason: drops[reason])
        values = [int(drops[reason]) for reason in reasons]
        bars = ax.barh(reasons, values, color=NEGATIVE_COLOR)
        _label_bars(ax, bars, values, horizontal=True)
        ax.margins(x=0.2)
    else:
        ax.text(0.5, 0.5, "no drops recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Rows dropped, by reason")
    ax.set_xlabel("rows")
    ax.spines[["top", "right"]].set_visible(False)
    _finish(fig, path)


# --- markdown --------------------------------------------------------------------------------
def _table(header: list[str], body: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in body]
    return lines + [""]


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


def render_markdown(data: ReportData, stats: RunStats) -> str:
    quality = stats.quality
    lines = ["# Dataset quality report", ""]
    lines += _table(
        ["samples", "domains", "candidates", "mean positives", "mean negatives"],
        [
            [
                _number(data.samples),
                len(data.domains),
                _number(data.candidates),
                _number(stats.positives_per_sample if data.samples else None),
                _number(stats.negatives_per_sample if data.samples else None),
            ]
        ],
    )
    lines += ["## Funnel", ""]
    lines += _table(
        ["stage", "rows", "dropped on the way in"],
        [
            [
                entry.stage,
                _number(entry.count),
                ", ".join(f"{r}: {c:,}" for r, c in entry.drops.items()) or "-",
            ]
            for entry in stats.funnel
        ],
    )
    lines += [
        f"Quarantined (LLM answers that failed their parser after re-asks): "
        f"{stats.quarantined.queries:,} queries, {stats.quarantined.judgements:,} judgements.",
        "",
    ]
    for key, title in (("drops", "Dropped by reason"), ("candidate_drops", "Candidates removed by reason")):  # fmt: skip
        section = getattr(stats, key)
        if section:
            lines += [f"### {title}", ""]
            lines += _table(
                ["reason", "count"], [[r, _number(c)] for r, c in sorted(section.items())]
            )
    lines += ["![funnel](funnel.png)", "", "## Triviality", ""]
    metrics = quality.get("metrics") or {}
    lines += _table(
        ["metric", "n", "mean", "p10", "median", "p90", "max"],
        [
            [f"`{name}`"]
            + [_number(m.get(k)) for k in ("count", "mean", "p10", "median", "p90", "max")]
            for name, m in metrics.items()
        ],
    )
    for name, share in (quality.get("source_rank_at_1") or {}).items():
        lines.append(
            f"- `{name}` = 1 for {share:.1%} of the samples (the query points straight back to its source)."
        )
    lines += ["", "![triviality](triviality.png)", "", "## Decontamination (BRIGHT)", ""]
    if stats.decontamination.performed:
        lines += [f"Checked against `{stats.decontamination.bright}`.", ""]
        lines += _table(
            ["check", "value"],
            [
                [k, _number(v) if not isinstance(v, dict) else json.dumps(v)]
                for k, v in (quality.get("decontamination") or {}).items()
            ],
        )
    else:
        lines += [
            "**Not run**: the config has no `bright:` setting, so the queries were not checked "
            "against the BRIGHT test queries and BRIGHT test documents were not excluded from "
            "the seeds.",
            "",
        ]
    lines += [
        "## Annotation",
        "",
        "![relevance scores](relevance_scores.png)",
        "",
        "![positives and negatives](positives_negatives.png)",
        "",
        "## Domains",
        "",
        "![domains](domains.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(
    folder: Path, output: Path | None = None, browse_limit: int = DEFAULT_BROWSE_LIMIT
) -> Path:
    """Write report.md, the plots and the sample browser (index.html) of a generate output
    folder; returns the report's path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder: pass the output folder of `reasonembed generate`"
        )
    output = Path(output) if output is not None else folder / REPORT_FOLDER
    data = read_report_data(folder)
    stats = RunStats.read(folder)
    output.mkdir(parents=True, exist_ok=True)
    config = stats.triviality_config
    plot_relevance_scores(data, output / "relevance_scores.png", stats.positive_threshold)
    plot_positives_negatives(data, output / "positives_negatives.png")
    plot_triviality(data, output / "triviality.png", config)
    plot_domains(data, output / "domains.png")
    plot_funnel(stats, output / "funnel.png")
    report = output / REPORT_FILE
    report.write_text(render_markdown(data, stats))
    write_browser(folder, output, browse_limit)
    return report


def run(args: argparse.Namespace) -> int:
    report = write_report(args.dir, args.output, args.browse_limit)
    logger.info(
        "wrote %s, %d plots and the sample browser %s",
        report,
        len(PLOT_FILES),
        report.parent / BROWSER_FILE,
    )
    return 0
