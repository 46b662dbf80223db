"""`write_browser`: one self-contained HTML page to look at a `reasonembed generate` output.

Contract:

    write_browser(output_dir, report_dir, browse_limit=200, *, max_data_bytes=16_000_000,
                  audit=None) -> Path
    existing_browse_limit(report_dir) -> int   # the limit an existing page was written with

writes `report_dir/index.html` and returns its path. The page opens from disk with no server and
no network (a Content-Security-Policy forbids every fetch; the plots are inline data URIs, the
data inline JSON, the script vanilla JS). It holds:

- the report's tables from `output_dir/stats.json` (funnel, drops by reason, candidate drops,
  quarantined counts, triviality metrics; every section optional, malformed ones skipped) and
  every `report_dir/*.png` plot;
- a sample browser over a deterministic sample of the queries: per domain, the at most
  `browse_limit` queries with the smallest `stable_hash(id)`, where id is the `sample_id` (kept
  samples; assembly drops carry theirs in the payload) or, for queries rejected before
  assembly, `{stage}-` + a hash of (domain, source_doc_id, stage). Kept samples come from
  `raw/*.parquet`; dropped ones from `quarantine/quarantine.parquet` (every stage but
  "annotation"); quarantined judgements (stage "annotation") are listed under the shown query
  with the same (domain, source_doc_id). The page says how many queries it shows out of how many,
  per domain and in total, kept and dropped.

Size and memory: texts are cut to `browse_sample.TEXT_CAPS` characters (the page says how much
was cut), at most `browse_sample.MAX_QUARANTINED_SHOWN` quarantined judgements per query, and the
shown queries are further limited so that the inline data stays under `max_data_bytes` (an
upper-bound estimate per query, taken round-robin over the domains in hash order). Files are read in batches
(`ParquetFile.iter_batches`): a first pass reads only the small columns to choose the queries, a
second reads the full rows of the row groups that hold a chosen one; memory is bounded by the
budget and one batch, not by the dataset.

The Audit view (when an audit sample is given: `reasonembed audit sample`, or DIR/audit/sample.json
at `reasonembed report`): the sampled (query, candidate) pairs with the judge's score and
analysis, texts cut as above (each query's texts once); the reviewer marks each pair relevant /
not relevant / unsure with the keys r / n / u (x clears; j / k or the arrows move), names
themself, and "Export review" downloads `review-<reviewer>-<digest[:8]>.json` (format
"reasonembed-audit-review/1": config_hash, seed, sample_digest, reviewer, exported_at, marks by
pair id; unmarked pairs absent), read by `reasonembed audit score`. Marks and name are kept in
the browser's localStorage under the sample's digest, so they survive a reload. The audit texts
count against the data budget first.

Page parameters (the URL fragment; the filters write it back, so a filtered view is a link):
`domain`; `status` (kept | dropped); `reason` (a drop reason spelled as the keys of stats.json
`drops`, `stage:kind:reason`: `reasonembed.data.stats.drop_key`); `minpos` (minimum positives);
`rank_min` / `rank_max` (source dense rank, `triviality_source_dense_rank`; a query whose source
was not found in the searched depth counts as beyond any rank); `q` (words that must all occur
in the query, q', sample id or source doc id; case-insensitive); `open` (a sample id: that
sample is shown opened) and `analyses=open` (its analyses unfolded; otherwise each opens on
click); `view=audit` (the Audit view). Example:
`index.html#domain=biology&q=heap&open=0a1b2c3d4e5f6a7b`.

Three modules: this one (the page: summary tables, the browse.html template filled in, the entry
point), reasonembed.quality.browse_sample (which queries are shown) and
reasonembed.quality.browse_items (their data); the folder's files are found through
reasonembed.data.output_folder.OutputFolder.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from reasonembed.data.output import write_text
from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from reasonembed.quality import triviality as tv
from reasonembed.quality.browse_items import read_audit_items, read_items
from reasonembed.quality.browse_sample import choose, quarantine_file

logger = logging.getLogger(__name__)

BROWSER_FILE = "index.html"
TEMPLATE = Path(__file__).with_name("browse.html")
DEFAULT_BROWSE_LIMIT = 200
DEFAULT_MAX_DATA_BYTES = 16_000_000  # inline data; the page (with plots) stays under ~20 MB
_MARKER = re.compile(r"@@(TITLE|HEADER|SUMMARY|DATA|LIMIT)@@")
_LIMIT_META = re.compile(rb'<meta name="reasonembed-browse-limit" content="(\d+)">')


# --- summary (static HTML) -------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value if value is not None else "-")
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


def _table(header: list[str], body: list[list[str]], css: str = "") -> str:
    """An HTML table; cells are already escaped."""
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def read_stats(folder: OutputFolder) -> dict:
    """stats.json as it is (the page shows what it finds): {} when missing or not JSON."""
    path = folder.stats_path
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        logger.warning("%s is not valid JSON (%s): the page has no stats tables", path, error)
        return {}
    return stats if isinstance(stats, dict) else {}


def positive_threshold(folder: OutputFolder, stats: dict) -> int:
    """`annotation.positive_threshold` of config.yaml, else stats.json's `positive_threshold`,
    else its triviality_config `min_positive_score`, else the default (3)."""
    try:
        value = folder.config["annotation"]["positive_threshold"]
        if isinstance(value, int):
            return value
    except (OSError, UserError, KeyError, TypeError):
        pass
    for value in (
        stats.get("positive_threshold"),
        (stats.get("triviality_config") or {}).get("min_positive_score"),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return tv.DEFAULT_POSITIVE_SCORE


def _counts_table(section: Any) -> str:
    if not isinstance(section, dict) or not section:
        return ""
    body = [
        [_e(reason), _number(count)]
        for reason, count in sorted(section.items(), key=lambda kv: str(kv[0]))
        if not isinstance(count, dict | list)
    ]
    return _table(["reason", "count"], body, "counts") if body else ""


def _summary_html(stats: dict, report_dir: Path) -> str:
    parts = []
    funnel = stats.get("funnel")
    if isinstance(funnel, list) and funnel:
        body = []
        for entry in funnel:
            if not isinstance(entry, dict):
                continue
            drops = entry.get("drops") if isinstance(entry.get("drops"), dict) else {}
            body.append(
                [
                    _e(entry.get("stage", "?")),
                    _number(entry.get("count")),
                    _e(
                        ", ".join(
                            f"{r}: {c:,}" if isinstance(c, int) else f"{r}: {c}"
                            for r, c in drops.items()
                        )
                        or "-"
                    ),
                ]
            )
        parts.append("<h3>Funnel</h3>" + _table(["stage", "rows", "dropped here"], body, "funnel"))
    quality = stats.get("quality") if isinstance(stats.get("quality"), dict) else {}
    for key, title in (
        ("drops", "Queries dropped, by reason"),
        ("candidate_drops", "Candidates removed, by reason"),
        ("quarantined", "Quarantined (LLM answers that failed their parser)"),
    ):
        table = _counts_table(stats.get(key) or quality.get(key))
        if table:
            parts.append(f"<h3>{_e(title)}</h3>{table}")
    metrics = quality.get("metrics")
    if isinstance(metrics, dict) and metrics:
        columns = ("count", "mean", "p10", "median", "p90", "max")
        body = [
            [f"<code>{_e(name)}</code>"] + [_number(m.get(c)) for c in columns]
            for name, m in metrics.items()
            if isinstance(m, dict)
        ]
        parts.append("<h3>Triviality metrics</h3>" + _table(["metric", *columns], body, "metrics"))
    if not parts:
        parts.append("<p>stats.json has no funnel or drop counts.</p>")
    plots = sorted(report_dir.glob("*.png")) if report_dir.is_dir() else []
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{_e(plot.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(plot.name)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _header_html(items: list[dict], totals: dict[str, dict[str, int]], limit: int) -> str:
    shown: dict[str, dict[str, int]] = defaultdict(lambda: {"kept": 0, "dropped": 0})
    for item in items:
        shown[item["domain"]][item["status"]] += 1
    total_all = sum(t["kept"] + t["dropped"] for t in totals.values())
    kept_all = sum(t["kept"] for t in totals.values())
    shown_kept = sum(s["kept"] for s in shown.values())
    line = (
        f'<p class="showing" id="showing">Showing {len(items):,} of {total_all:,} queries '
        f"({shown_kept:,} of {kept_all:,} kept, {len(items) - shown_kept:,} of "
        f"{total_all - kept_all:,} dropped): at most {limit:,} per domain, chosen by a hash of "
        "the sample id.</p>"
    )
    body = [
        [
            _e(domain),
            f'<span class="per-domain" data-domain="{_e(domain)}">{shown[domain]["kept"] + shown[domain]["dropped"]:,} of {t["kept"] + t["dropped"]:,}</span>',
            f"{shown[domain]['kept']:,} of {t['kept']:,}",
            f"{shown[domain]['dropped']:,} of {t['dropped']:,}",
        ]
        for domain, t in sorted(totals.items())
    ]
    return line + _table(["domain", "shown", "kept shown", "dropped shown"], body, "domains")


def existing_browse_limit(report_dir: Path) -> int:
    """The browse limit `report_dir/index.html` was written with (the default when there is no
    such page or it does not say), so that writing the page again keeps its queries."""
    try:
        with (Path(report_dir) / BROWSER_FILE).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return DEFAULT_BROWSE_LIMIT
    match = _LIMIT_META.search(head)
    return int(match.group(1)) if match and int(match.group(1)) >= 1 else DEFAULT_BROWSE_LIMIT


def _audit_header(audit: dict) -> str:
    pairs = len(audit["pairs"])
    return (
        f'<p class="audit-line">Audit queue: {pairs:,} (query, candidate) pairs of the judge to '
        f"check by hand (seed {_e(audit.get('seed'))}); open the <b>Audit</b> view.</p>"
    )


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no `<` (so no `</script>` or `<!--`), no line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- entry point -----------------------------------------------------------------------------
def write_browser(
    output_dir: Path,
    report_dir: Path,
    browse_limit: int = DEFAULT_BROWSE_LIMIT,
    *,
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
    audit: dict | None = None,
) -> Path:
    """Write `report_dir/index.html` for the generate output `output_dir`; return its path.

    See the module docstring for what the page holds, how the queries are chosen (at most
    `browse_limit` per domain, inline data under `max_data_bytes`) and its URL parameters.
    `audit`: an audit sample (reasonembed.quality.audit_sample) to put in the Audit view; its
    texts count against `max_data_bytes` first.
    """
    folder, report_dir = OutputFolder(output_dir).require_folder(), Path(report_dir)
    if browse_limit < 1:
        raise UserError(f"--browse-limit must be at least 1 (got {browse_limit})")
    stats = read_stats(folder)
    threshold = positive_threshold(folder, stats)
    quarantine = quarantine_file(folder)
    queue = read_audit_items(folder, audit) if audit is not None else None
    audit_bytes = len(_json_for_script(queue).encode("utf-8")) if queue is not None else 0
    selection = choose(folder, quarantine, browse_limit, max(max_data_bytes - audit_bytes, 0))
    items = read_items(folder, quarantine, selection.picks, threshold)
    n_candidates = sum(len(item["candidates"]) for item in items)
    data = {
        "positive_threshold": threshold,
        "browse_limit": browse_limit,
        "items": items,
        "audit": queue,
    }
    budget_note = ""
    if selection.cut_by_budget:
        budget_note = (
            f'<p class="note">The page holds fewer queries than the limit allows: their texts '
            f"would exceed the page's data budget ({max_data_bytes / 1e6:.0f} MB"
            + (f", {audit_bytes / 1e6:.1f} MB of it the audit queue" if audit_bytes else "")
            + ").</p>"
        )
    values = {
        "TITLE": _e(f"reasonembed report: {folder.path.resolve().name}"),
        "HEADER": _header_html(items, selection.totals, browse_limit)
        + budget_note
        + f"<p>{n_candidates:,} candidates on this page; positive: relevance score "
        f"&ge; {threshold}.</p>" + (_audit_header(queue) if queue is not None else ""),
        "SUMMARY": _summary_html(stats, report_dir),
        "DATA": _json_for_script(data),
        "LIMIT": str(browse_limit),
    }
    page = _MARKER.sub(lambda match: values[match.group(1)], TEMPLATE.read_text(encoding="utf-8"))
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / BROWSER_FILE
    write_text(page, path)
    logger.info(
        "sample browser %s: %d queries, %d candidates, %s%.1f MB",
        BROWSER_FILE,
        len(items),
        n_candidates,
        f"{len(queue['pairs'])} audit pairs, " if queue is not None else "",
        len(page) / 1e6,
    )
    return path
