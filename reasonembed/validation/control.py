"""The doc-as-positive control of a validation: the training rows with each query's source
document as its only positive (see reasonembed.validation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from reasonembed.data.output_folder import OutputFolder

logger = logging.getLogger(__name__)

RAW_COLUMNS = ["domain", "query", "source_text"]
BATCH_ROWS = 1_000


@dataclass
class Control:
    """The doc-as-positive training rows, or why there are none."""

    rows: list[dict] | None
    reason: str  # how the rows were built, or why the control is unavailable

    @property
    def available(self) -> bool:
        return self.rows is not None


def doc_as_positive_rows(rows: list[dict], data_path: Path) -> Control:
    """The training rows with each query's source document as its only positive.

    Source documents come from the raw config (`raw/*.parquet`: domain, query, source_text),
    matched to training rows by (domain, query). Rows without a match are left out.
    """
    folder = OutputFolder(data_path)
    if not folder.raw_files():
        return Control(
            None,
            f"the data ({data_path}) has no raw config (raw/*.parquet of a `reasonembed generate` "
            "output folder), which holds each query's source document (`source_text`)",
        )
    lacking = folder.raw_columns_missing(RAW_COLUMNS)
    if lacking is not None:
        file, missing = lacking
        return Control(None, f"{file}: the raw config lacks column(s) {missing}")
    source_of: dict[tuple[str, str], str] = {}
    for batch in folder.iter_raw(RAW_COLUMNS, batch_rows=BATCH_ROWS):
        for item in batch.to_pylist():
            if item["source_text"] and item["source_text"].strip():
                source_of.setdefault((item["domain"], item["query"]), item["source_text"])
    control = [
        {**row, "pos": [source_of[(row["domain"], row["query"])]]}
        for row in rows
        if (row["domain"], row["query"]) in source_of
    ]
    if not control:
        return Control(
            None,
            f"no training query of {data_path} was found in its raw config (matched by domain "
            "and query text), so no source document is known",
        )
    left_out = len(rows) - len(control)
    reason = f"{len(control)} queries, source document as the only positive"
    if left_out:
        reason += f" ({left_out} queries without a raw source document left out)"
        logger.warning("doc-as-positive control: %d queries have no raw source text", left_out)
    return Control(control, reason)
