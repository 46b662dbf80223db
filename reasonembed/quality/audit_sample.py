"""The judge's labels to check by hand: a reproducible, stratified sample (`reasonembed audit sample`).

Contract (shared with reasonembed.quality.audit_score and the report page):

    write_audit_sample(output_dir, n, seed=0) -> Path   # DIR/audit/sample.json
    read_audit_sample(output_dir) -> dict               # UserError when there is none
    find_audit_sample(output_dir) -> dict | None        # None when there is none

sample.json (format "reasonembed-audit-sample/1") holds `config_hash` (the one distinct value of
the raw `config_hash` column), `seed`, `n_requested`, `positive_threshold`
(annotation.positive_threshold of config.yaml), `sample_digest` (sha256 of the sorted pair ids
joined by newlines), `created_at` and `pairs`: {pair_id "<sample_id>/<doc_id>", sample_id,
doc_id, domain, llm_score, stratum "<domain>|<llm_score>"}.

Only judged candidates of kept samples (raw/*.parquet, relevance_score not null) are drawn. A
stratum is a (domain, score); `n` is spread over the non-empty strata as evenly as their sizes
allow (`allocate`: an equal share each, a stratum smaller than its share gives it all and the
rest is shared again; the remainder goes to the largest strata), and inside a stratum the pairs
with the smallest `stable_hash(seed, pair_id)` are taken. The same (dataset, n, seed) gives the
same pairs. The pairs are listed in that hash order (strata mixed, as a reviewer meets them).

The raw shards are streamed in batches reading only sample_id, domain, config_hash and the
candidates' doc_id and relevance_score (never the texts); memory is bounded by the batch and
`n` entries per stratum, not by the dataset.

After writing, when DIR/report exists, the report page (report/index.html) is written again with
the audit queue in it (reasonembed.quality.browse); `reasonembed report` embeds the queue too
whenever DIR/audit/sample.json exists.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from reasonembed.data.output import write_json
from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.textnorm import stable_hash
from reasonembed.errors import UserError
from reasonembed.quality.browse import (
    existing_browse_limit,
    positive_threshold,
    read_stats,
    write_browser,
)

logger = logging.getLogger(__name__)

FORMAT = "reasonembed-audit-sample/1"
AUDIT_DIR = "audit"
SAMPLE_FILE = "sample.json"
BATCH_ROWS = 2_048
SAMPLE_KEYS = ("format", "config_hash", "seed", "sample_digest", "positive_threshold", "pairs")


def sample_path(output_dir: str | Path) -> Path:
    """DIR/audit/sample.json (whether or not it exists)."""
    return Path(output_dir) / AUDIT_DIR / SAMPLE_FILE


def pair_id(sample_id: str, doc_id: str) -> str:
    return f"{sample_id}/{doc_id}"


def sample_digest(pair_ids: list[str]) -> str:
    """sha256 hex of the sorted pair ids joined by newlines."""
    return hashlib.sha256("\n".join(sorted(pair_ids)).encode("utf-8")).hexdigest()


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Pairs to take per stratum: `n` spread as evenly as the sizes allow (never more than a
    stratum holds; the remainder to the largest strata, ties by name); min(n, total) in all."""
    left = {stratum: size for stratum, size in sizes.items() if size > 0}
    taken: dict[str, int] = {}
    remaining = n
    while left and remaining > 0:
        share = remaining // len(left)
        small = sorted(stratum for stratum, size in left.items() if size <= share)
        if small:
            for stratum in small:
                taken[stratum] = left.pop(stratum)
                remaining -= taken[stratum]
            continue
        extra = remaining - share * len(left)
        for index, stratum in enumerate(sorted(left, key=lambda s: (-left[s], s))):
            taken[stratum] = share + (1 if index < extra else 0)
        break
    return {stratum: count for stratum, count in taken.items() if count > 0}


def _candidate_leaves(path: Path) -> list[str]:
    """The parquet column paths of the candidates' doc_id and relevance_score in `path`."""
    schema = pq.ParquetFile(path).schema
    leaves = [schema.column(i).path for i in range(len(schema))]
    found = {}
    for leaf in leaves:
        parts = leaf.split(".")
        if parts[0] == "candidates" and parts[-1] in ("doc_id", "relevance_score"):
            found[parts[-1]] = leaf
    missing = [name for name in ("doc_id", "relevance_score") if name not in found]
    if missing:
        raise UserError(
            f"{path}: no candidates.{missing[0]} column; expected a `raw` shard written by "
            "`reasonembed generate` (see reasonembed/data/records.py)"
        )
    return [found["doc_id"], found["relevance_score"]]


class _Strata:
    """Per stratum: how many pairs it holds, and the `limit` with the smallest hash."""

    def __init__(self, seed: int, limit: int):
        self.seed, self.limit = str(seed), limit
        self.sizes: dict[str, int] = defaultdict(int)
        self.heaps: dict[str, list] = defaultdict(list)

    def offer(self, sample_id: str, doc_id: str, domain: str, score: int) -> None:
        stratum = f"{domain}|{score}"
        self.sizes[stratum] += 1
        pid = pair_id(sample_id, doc_id)
        key = int(stable_hash(self.seed, pid)[:16], 16)
        heap = self.heaps[stratum]
        entry = (-key, pid, sample_id, doc_id, domain, score)
        if len(heap) < self.limit:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)

    def draw(self, n: int) -> list[dict]:
        """The allocated pairs of every stratum, in hash order (strata mixed)."""
        chosen = []
        for stratum, count in allocate(self.sizes, n).items():
            chosen += sorted(self.heaps[stratum], reverse=True)[:count]
        pairs, seen = [], set()
        for _, pid, sample_id, doc_id, domain, score in sorted(chosen, reverse=True):
            if pid in seen:  # a doc listed twice under one sample: one pair
                continue
            seen.add(pid)
            pairs.append(
                {
                    "pair_id": pid,
                    "sample_id": sample_id,
                    "doc_id": doc_id,
                    "domain": domain,
                    "llm_score": score,
                    "stratum": f"{domain}|{score}",
                }
            )
        return pairs


def _stream(folder: OutputFolder, strata: _Strata) -> set[str]:
    """Offer every judged candidate of the raw shards; return the config hashes seen."""
    hashes: set[str] = set()
    for path in folder.raw_files(required=True):
        names = set(pq.read_schema(path).names)
        missing = [name for name in ("sample_id", "domain", "candidates") if name not in names]
        if missing:
            raise UserError(
                f"{path}: no column {missing[0]!r}; expected a `raw` shard written by "
                "`reasonembed generate` (see reasonembed/data/records.py)"
            )
        columns = ["sample_id", "domain", *_candidate_leaves(path)]
        if "config_hash" in names:
            columns.append("config_hash")
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(BATCH_ROWS, columns=columns):
            if "config_hash" in batch.schema.names:
                hashes.update(h for h in pc.unique(batch.column("config_hash")).to_pylist() if h)
                if len(hashes) > 1:
                    raise UserError(
                        f"{folder.subfolder('raw')}: rows of several config hashes "
                        f"({', '.join(sorted(hashes))}, seen by {path.name}); audit the output of "
                        "one `reasonembed generate` config at a time"
                    )
            candidates = batch.column("candidates")
            flat = pc.list_flatten(candidates)
            if len(flat) == 0:
                continue
            parents = pc.list_parent_indices(candidates).to_numpy(zero_copy_only=False)
            doc_ids = pc.struct_field(flat, "doc_id").to_pylist()
            scores = pc.struct_field(flat, "relevance_score").to_pylist()
            sample_ids = batch.column("sample_id").to_pylist()
            domains = batch.column("domain").to_pylist()
            for parent, doc_id, score in zip(parents, doc_ids, scores, strict=True):
                if score is None or doc_id is None:
                    continue
                strata.offer(
                    str(sample_ids[parent]),
                    str(doc_id),
                    str(domains[parent] or "unknown"),
                    int(score),
                )
    return hashes


def write_audit_sample(output_dir: str | Path, n: int, seed: int = 0) -> Path:
    """Draw `n` judged pairs into DIR/audit/sample.json (see the module docstring); re-render
    report/index.html with the audit queue when DIR/report exists. Returns the file's path."""
    folder = OutputFolder(output_dir).require_folder()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"--n must be at least 1 (got {n}): the number of pairs to review")
    folder.raw_files(required=True)
    strata = _Strata(seed, n)
    hashes = _stream(folder, strata)
    config_hash = next(iter(hashes)) if hashes else folder.recorded_config_hash()
    if not config_hash:
        raise UserError(
            f"{folder.subfolder('raw')}: no config_hash in the raw rows nor in "
            f"{folder.stats_path}: the review files must name the dataset; pass the output "
            "folder of `reasonembed generate`"
        )
    pairs = strata.draw(n)
    if not pairs:
        raise UserError(
            f"{folder.subfolder('raw')}: no judged candidate (every relevance_score is null): "
            "nothing to audit"
        )
    sample = {
        "format": FORMAT,
        "config_hash": config_hash,
        "seed": seed,
        "n_requested": n,
        "positive_threshold": positive_threshold(folder, read_stats(folder)),
        "sample_digest": sample_digest([pair["pair_id"] for pair in pairs]),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pairs": pairs,
    }
    path = sample_path(folder.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(sample, path)
    sizes = defaultdict(int)
    for pair in pairs:
        sizes[pair["domain"]] += 1
    logger.info(
        "audit sample %s: %d pairs (%s) from %d strata of %d judged pairs, seed %d",
        path,
        len(pairs),
        ", ".join(f"{domain} {count}" for domain, count in sorted(sizes.items())),
        len(strata.sizes),
        sum(strata.sizes.values()),
        seed,
    )
    report_dir = folder.report_dir
    if report_dir.is_dir():
        page = write_browser(
            folder.path, report_dir, existing_browse_limit(report_dir), audit=sample
        )
        logger.info("the audit queue is in %s (open it, then the Audit view)", page)
    else:
        logger.info(
            "no %s yet: `reasonembed report %s` writes the page with the audit queue",
            report_dir,
            folder.path,
        )
    return path


def find_audit_sample(output_dir: str | Path) -> dict | None:
    """DIR/audit/sample.json, checked as `read_audit_sample`; None when there is none."""
    if not sample_path(output_dir).is_file():
        return None
    return read_audit_sample(output_dir)


def read_audit_sample(output_dir: str | Path) -> dict:
    """DIR/audit/sample.json as a dict; UserError (one line, naming the file) when it is missing,
    not JSON or not a sample of this format."""
    path = sample_path(output_dir)
    if not path.is_file():
        raise UserError(
            f"{path}: no audit sample; run `reasonembed audit sample {Path(output_dir)}` first"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error}); draw it again with `reasonembed "
                        "audit sample`") from error  # fmt: skip
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path}: format {found!r}, expected {FORMAT!r}")
    missing = [key for key in SAMPLE_KEYS if key not in data]
    if missing or not isinstance(data["pairs"], list):
        raise UserError(
            f"{path}: no {missing[0] if missing else 'pairs list'!r} field; draw it again with "
            "`reasonembed audit sample`"
        )
    return data
