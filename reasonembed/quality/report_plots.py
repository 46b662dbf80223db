"""The PNG plots of `reasonembed report` (reasonembed.quality.report): one function per plot,
each drawing a `ReportData` (or the run's `RunStats`) into the file it is given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from reasonembed.data.stats import RunStats  # noqa: E402
from reasonembed.quality import triviality as tv  # noqa: E402

if TYPE_CHECKING:
    from reasonembed.quality.report import ReportData

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
