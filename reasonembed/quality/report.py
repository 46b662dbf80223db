"""report.md and PNG plots of a `reasonembed generate` output folder (`reasonembed report`).

`write_report(DIR, output=None)` reads DIR/raw/*.parquet (the `raw` config, records.RAW_SCHEMA
plus the triviality_* and decontamination_* columns) and DIR/stats.json; writes DIR/report/ (or
`output`; the plots are drawn by reasonembed.quality.report_plots):

    report.md                overview, funnel, drop reasons, triviality and decontamination tables
    relevance_scores.png     histogram of the annotators' relevance scores (1-5, unparsed)
    positives_negatives.png  positives and negatives per query
    triviality.png           distributions of the triviality metrics
    domains.png              samples per domain
    funnel.png               rows kept at each stage, seeds to samples, and drops by reason

Reads the folder through `reasonembed.data.output_folder.OutputFolder`: stats.json as `RunStats` (the
funnel with its drops by reason, the quality section), and DIR/raw/*.parquet streamed a batch at
a time, only the columns the plots need (never the texts): memory is bounded by the batch and a
few numbers per sample.
`write_report` also writes the sample browser (report/index.html, reasonembed.quality.browse), with
the audit queue of DIR/audit/sample.json when there is one (reasonembed.quality.audit_sample).
The folder is built beside its place and renamed in whole: a full disk or an interruption leaves
the previous report intact.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from reasonembed.data.diskspace import folder_bytes
from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.staging import staged_folder
from reasonembed.data.stats import RunStats
from reasonembed.errors import UserError
from reasonembed.quality.audit_sample import find_audit_sample
from reasonembed.quality.browse import DEFAULT_BROWSE_LIMIT, write_browser
from reasonembed.quality.report_plots import (
    TRIVIALITY_PANELS,
    plot_domains,
    plot_funnel,
    plot_positives_negatives,
    plot_relevance_scores,
    plot_triviality,
)

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
PLOT_FILES = (
    "relevance_scores.png",
    "positives_negatives.png",
    "triviality.png",
    "domains.png",
    "funnel.png",
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


def read_report_data(folder: OutputFolder, batch_rows: int = 2_048) -> ReportData:
    """Stream the folder's raw shards into a ReportData (UserError when it has none)."""
    folder.raw_files(required=True)
    data = ReportData()
    for batch in folder.iter_raw(["domain", "candidates", *NUMERIC_COLUMNS], batch_rows):
        data.samples += batch.num_rows
        data.domains.update(batch.column("domain").to_pylist())
        scores = pc.struct_field(pc.list_flatten(batch.column("candidates")), "relevance_score")
        data.candidates += len(scores)
        data.score_counts.update(scores.to_pylist())
        for name in NUMERIC_COLUMNS:
            if name in batch.schema.names:
                values = batch.column(name).to_numpy(zero_copy_only=False)
                data.columns.setdefault(name, []).append(values.astype(np.float64))
    return data


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
    folder; returns the report's path.

    The report folder is built beside its place and renamed in as a whole
    (`reasonembed.data.staging`): a full disk (one `DiskFull` line), Ctrl-C or SIGTERM leaves the
    previous report as it was and nothing staged. An existing `output` that is not a report
    folder (no report.md) is refused rather than replaced."""
    folder = OutputFolder(folder).require_folder()
    output = Path(output) if output is not None else folder.report_dir
    _refuse_foreign_folder(output)
    data = read_report_data(folder)
    stats = folder.stats
    config = stats.triviality_config
    try:
        audit = find_audit_sample(folder.path)
    except UserError as error:
        logger.warning("the page has no audit queue: %s", error)
        audit = None
    # the space needed, asked only on a full disk: at least the previous report's (still there)
    with staged_folder(output, needed=lambda staged: max(staged, folder_bytes(output))) as staging:
        plot_relevance_scores(data, staging / "relevance_scores.png", stats.positive_threshold)
        plot_positives_negatives(data, staging / "positives_negatives.png")
        plot_triviality(data, staging / "triviality.png", config)
        plot_domains(data, staging / "domains.png")
        plot_funnel(stats, staging / "funnel.png")
        (staging / REPORT_FILE).write_text(render_markdown(data, stats))
        write_browser(folder.path, staging, browse_limit, audit=audit)
    return output / REPORT_FILE


def _refuse_foreign_folder(output: Path) -> None:
    """UserError when `output` holds files but no report.md: replacing it would delete them."""
    if output.is_file() or (
        output.is_dir() and any(output.iterdir()) and not (output / REPORT_FILE).is_file()
    ):
        raise UserError(
            f"--output {output}: exists and is not a report folder (no {REPORT_FILE}); the report "
            "replaces its folder as a whole: pass a new or empty folder"
        )
