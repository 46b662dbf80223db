"""Contamination guard: does a training dataset overlap the BRIGHT tasks being evaluated?

Two checks per task:
- queries: training queries that copy or closely paraphrase a test query, found by the
  project's `QueryDecontaminator` (exact, 13-gram, MinHash Jaccard, optional embeddings);
- documents: training positives/negatives equal to a test gold document, by doc id (where the
  training data keeps ids, e.g. the `raw` config) or by normalised text (`textnorm`).

Training data (`load_training_data(spec)`): a `reasonembed generate` output folder (its `raw`
config, else `reasonembed`/`flagembedding`/`sentence-transformers`), a folder or file of
jsonl/parquet in one config's format (`query`/`pos`/`neg`, `anchor`/`positive`/`negative_N`,
or `query`/`candidates`), or a Hub dataset `org/name[@revision]`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from reasonembed.errors import UserError
from reasonembed.eval.bright import BrightDocuments, BrightExample
from reasonembed.quality.decontamination import QueryDecontaminator
from reasonembed.textnorm import normalized_text_hash

logger = logging.getLogger(__name__)

CONFIG_PREFERENCE = ("raw", "reasonembed", "flagembedding", "sentence-transformers")


@dataclass
class TrainingData:
    """Queries and the documents paired with them (positives and negatives)."""

    source: str
    queries: list[str] = field(default_factory=list)
    document_texts: list[str] = field(default_factory=list)
    document_ids: set[str] = field(default_factory=set)


def _rows_of_file(path: Path) -> Iterator[dict]:
    if path.suffix == ".parquet":
        yield from pq.read_table(path).to_pylist()
        return
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserError(f"{path}: line {line_number}: invalid JSON: {error}") from error


def _add_row(data: TrainingData, row: dict, where: str) -> None:
    if "anchor" in row:
        data.queries.append(row["anchor"])
        data.document_texts.extend(
            value
            for key, value in row.items()
            if (key == "positive" or key.startswith("negative")) and isinstance(value, str)
        )
        return
    if "query" not in row:
        raise UserError(
            f"{where}: row has neither 'query' nor 'anchor'; expected a reasonembed, "
            "flagembedding, sentence-transformers or raw export"
        )
    data.queries.append(row["query"])
    for key in ("pos", "neg"):
        data.document_texts.extend(text for text in row.get(key) or [] if isinstance(text, str))
    for candidate in row.get("candidates") or []:
        if candidate.get("text"):
            data.document_texts.append(candidate["text"])
        if candidate.get("doc_id"):
            data.document_ids.add(candidate["doc_id"])


def _data_files(folder: Path) -> list[Path]:
    for config in CONFIG_PREFERENCE:
        sub = folder / config
        if sub.is_dir():
            files = sorted(sub.rglob("*.parquet")) + sorted(sub.rglob("*.jsonl"))
            if files:
                return files
    return sorted(folder.rglob("*.parquet")) + sorted(folder.rglob("*.jsonl"))


def load_training_data(spec: str) -> TrainingData:
    """Load a training dataset from a folder, a file or a Hub repo `org/name[@revision]`."""
    path = Path(spec).expanduser()
    if not path.exists():
        if "/" not in spec or spec.startswith((".", "/")):
            raise UserError(f"--train-data {spec}: no such file or folder")
        from huggingface_hub import snapshot_download

        repo, _, revision = spec.partition("@")
        try:
            path = Path(snapshot_download(repo, repo_type="dataset", revision=revision or None))
        except Exception as error:
            raise UserError(
                f"--train-data {spec}: cannot download from the Hub: {error}"
            ) from error
    files = [path] if path.is_file() else _data_files(path)
    if not files:
        raise UserError(f"--train-data {spec}: no .parquet or .jsonl files found")
    data = TrainingData(source=spec)
    for file in files:
        for row in _rows_of_file(file):
            _add_row(data, row, str(file))
    logger.info(
        "training data %s: %d queries, %d paired documents",
        spec,
        len(data.queries),
        len(data.document_texts),
    )
    return data


@dataclass
class TaskContamination:
    task: str
    test_queries_matched: int  # distinct test queries some training query matches
    training_queries_matching: int
    gold_documents_in_training: int  # distinct gold docs found among training documents
    gold_documents: int
    examples: list[dict] = field(default_factory=list)  # a few matches, for the report

    @property
    def found(self) -> bool:
        return bool(self.test_queries_matched or self.gold_documents_in_training)


class ContaminationGuard:
    """Holds a training dataset's query matcher inputs and document fingerprints."""

    def __init__(self, data: TrainingData, encoder=None) -> None:
        self.data = data
        self.encoder = encoder
        self.text_hashes = {normalized_text_hash(text) for text in data.document_texts}

    def check_task(
        self,
        task: str,
        examples: Sequence[BrightExample],
        documents: BrightDocuments | None,
        long: bool = False,
    ) -> TaskContamination:
        """Compare the training data with one task's test queries and gold documents."""
        matcher = QueryDecontaminator(
            [example.query for example in examples],
            [example.id for example in examples],
            encoder=self.encoder,
        )
        matches = matcher.match(self.data.queries)
        hits = [(i, m) for i, m in enumerate(matches) if m is not None]
        gold = {doc_id for example in examples for doc_id in example.gold(long)}
        in_training = {doc_id for doc_id in gold if doc_id in self.data.document_ids}
        if documents is not None and self.text_hashes:
            for doc_id, text in zip(documents.doc_ids, documents.texts, strict=True):
                if (
                    doc_id in gold
                    and text.strip()
                    and normalized_text_hash(text) in self.text_hashes
                ):
                    in_training.add(doc_id)
        examples_out = [
            {
                "training_query": self.data.queries[i][:200],
                "test_query_id": m.test_id,
                "method": m.method,
                "similarity": round(float(m.similarity), 4),
            }
            for i, m in hits[:5]
        ]
        examples_out += [{"gold_document": doc_id} for doc_id in sorted(in_training)[:5]]
        return TaskContamination(
            task=task,
            test_queries_matched=len({m.test_id for _, m in hits}),
            training_queries_matching=len(hits),
            gold_documents_in_training=len(in_training),
            gold_documents=len(gold),
            examples=examples_out,
        )


def contamination_rows(reports: Sequence[TaskContamination]) -> list[list[str]]:
    rows = [["task", "test queries hit", "training queries", "gold docs in training"]]
    for report in reports:
        rows.append(
            [
                report.task,
                str(report.test_queries_matched),
                str(report.training_queries_matching),
                f"{report.gold_documents_in_training}/{report.gold_documents}",
            ]
        )
    return rows
