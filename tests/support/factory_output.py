"""Output folders for tests, written by the factory's own writer (never by hand).

`write_output(folder, domains={"biology": 3, "leetcode": 2}, revision=1)` builds annotated query
rows (the annotation step's output contract), passes them through the real `AssembleSamples`
step and `reasonembed.factory.generate.write_output_folder` (raw, exports, quarantine, stats.json,
config.yaml, pipeline.yaml), then adds report/ (report.md, a PNG and a stand-in index.html) and,
when asked, validation/. Each domain gets `count` kept samples (2 positives, N_NEGATIVES
negatives, one quarantined judgement on the first), one sample dropped for having no negative,
and one query rejected by the query filter. Texts are deterministic (the golden card depends on
them); `revision` changes every query text, so two revisions hold different data.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from reasonembed.config import parse_config
from reasonembed.data.output_folder import VALIDATION_FILE, OutputFolder
from reasonembed.factory.generate import write_output_folder
from reasonembed.steps.assembly import AssembleSamples

N_NEGATIVES = 3
PROMPT_HASHES = {"query": "1a2b3c4d5e6f", "reasoning": "abcdefabcdef", "annotation": "0123456789ab"}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def annotated_row(
    domain: str, index: int, revision: int, scores: list[int | None] | None = None
) -> dict:
    """One annotated query row; `scores`: the candidates' relevance scores in retrieval order
    (None: a quarantined judgement). Default: 2 positives, N_NEGATIVES negatives."""
    scores = scores if scores is not None else [5, 4] + [1] * N_NEGATIVES
    query = (
        f"[r{revision}] {domain} question {index}: why does process {index} need step {index + 1}?"
    )
    return {
        "domain": domain,
        "source_doc_id": f"{domain}/source-{index}",
        "source_text": f"{domain} source passage {index} about a mechanism.",
        "query": query,
        "reasoning_query": f"{query} Reasoning: the answer needs mechanism {index}.",
        "instruction": f"Given a {domain} post, retrieve relevant passages",
        "target_length": "100 to 200 words",
        "education_level": "college",
        "generator_model": "smollm2-135m",
        "annotator_model": "smollm2-135m",
        "retriever_model": "minilm",
        "rejected_stage": None,
        "rejected_kind": None,
        "rejected_reason": None,
        "source_copies_removed": 1,
        "triviality_source_dense_rank": index + 2,
        "triviality_source_bm25_rank": index + 1,
        "query_attempts": 1,
        "reasoning_attempts": 1,
        "annotation_attempts": len(scores) + 1,
        **{f"{stage}_prompt_hash": value for stage, value in PROMPT_HASHES.items()},
        "candidates": [
            {
                "doc_id": f"{domain}/doc-{index}-{k}",
                "text": f"{domain} document {index}-{k}: an explanation of mechanism {k} in detail.",
                "retrieval_rank": k + 1,
                "retrieval_score": round(0.9 - 0.1 * k, 3),
                "relevance_score": score,
                "relevance_analysis": f"analysis {k}"
                + (f"\n<score>{score}</score>" if score else ""),
                "annotation_error": None if score else "no <score>N</score> tag in the answer",
                "annotation_status": "judged" if score else "quarantine",
            }
            for k, score in enumerate(scores)
        ],
    }


def query_rows(domains: dict[str, int], revision: int) -> list[dict]:
    """The annotated rows of `write_output` (see the module docstring)."""
    rows = []
    for domain, count in domains.items():
        for index in range(count):
            scores = [5, 4] + [1] * N_NEGATIVES
            rows.append(
                annotated_row(domain, index, revision, scores + ([None] if index == 0 else []))
            )
        rows.append(annotated_row(domain, count, revision, [5, 4]))  # no negative: dropped
        rows.append(
            {
                **annotated_row(domain, count + 1, revision, []),
                "rejected_stage": "query_filter",
                "rejected_kind": "drop",
                "rejected_reason": "source_copy",
                "candidates": None,
            }
        )
    return rows


def config_for(folder: Path, domains: dict[str, int], **overrides) -> dict:
    corpora = folder.parent / f".{folder.name}-corpora"
    corpora.mkdir(parents=True, exist_ok=True)
    entries = []
    for domain in domains:
        path = corpora / f"{domain}.jsonl"
        path.write_text(json.dumps({"doc_id": f"{domain}/doc", "text": "x" * 300}) + "\n")
        entries.append({"domain": domain, "corpus": {"path": str(path)}})
    return {
        "name": "test",
        "seed": 42,
        "domains": entries,
        "cache_dir": str(corpora / "cache"),
        **overrides,
    }


def write_output(
    folder: str | Path,
    domains: dict[str, int] | None = None,
    revision: int = 1,
    validation: bool = False,
    raw_shards: int = 2,
    rows: list[dict] | None = None,
    batch_rows: int | None = None,
    **config_overrides,
) -> Path:
    """Write the folder (see the module docstring); `rows`: the annotated rows instead of the
    default ones; `batch_rows`: records given to the writer this many at a time (a raw row group
    each), else all at once."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    domains = domains or {"biology": 3, "leetcode": 2}
    config = parse_config(config_for(folder, domains, **config_overrides))
    rows = rows if rows is not None else query_rows(domains, revision)
    step = AssembleSamples(name="assemble_samples", config_hash=f"cfg{revision:013d}")
    step.load()
    records = list(next(step.process(rows)))
    seed_counts = {}
    for domain in domains:
        seeds = sum(1 for row in rows if row["domain"] == domain)
        seed_counts[domain] = {"considered": seeds + 1, "selected": seeds, "too_short": 1}
    kept = sum(1 for record in records if record["status"] == "kept")
    step_rows = batch_rows or max(1, len(records))
    write_output_folder(
        config,
        folder,
        [records[start : start + step_rows] for start in range(0, len(records), step_rows)],
        seed_counts,
        {"distilabel": {"version": "1.5.3"}, "pipeline": {"name": "remixer"}},
        shard_rows=max(1, -(-kept // raw_shards)),
    )
    output = OutputFolder(folder)
    report = output.report_dir
    report.mkdir(exist_ok=True)
    (report / "report.md").write_text(f"# Report\n\n{kept} samples.\n")
    (report / "scores.png").write_bytes(png_bytes())
    (report / "index.html").write_text("<!doctype html><title>samples</title>\n")
    if validation:
        validated = output.validation_dir
        validated.mkdir(exist_ok=True)
        results = {
            "rows": [
                {"model": "minilm", "bright_ndcg@10": 0.081},
                {"model": "minilm+remixer", "bright_ndcg@10": 0.094},
            ]
        }
        (validated / VALIDATION_FILE).write_text(json.dumps(results))
        (validated / "validation.md").write_text("# Validation\n")
        (validated / "ndcg.png").write_bytes(png_bytes())
    return folder
