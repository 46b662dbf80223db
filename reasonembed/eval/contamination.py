"""Contamination guard: does a training dataset overlap the sets being evaluated (BRIGHT tasks or
BEIR folders, as `EvalTask`s)?

Two checks per task:
- queries: training queries that copy or closely paraphrase a test query, found by the
  project's `QueryDecontaminator` (exact, 13-gram, MinHash Jaccard, optional embeddings);
- documents: training positives/negatives equal to a test gold document (judged relevant,
  grade >= 1) by normalised text (`textnorm`).

Training data is read by the project's one loader, `reasonembed.data.data_source.load_training_rows`
(a `reasonembed generate` output folder, a folder or file of reasonembed-format jsonl/parquet,
or a Hub dataset `org/name[@revision]`); `TrainingData.from_rows` also takes rows built in
memory (e.g. the doc-as-positive control of `reasonembed validate`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reasonembed.data.data_source import load_training_rows
from reasonembed.data.textnorm import normalized_text_hash
from reasonembed.eval.task import EvalTask
from reasonembed.quality.decontamination import QueryDecontaminator

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Queries and the documents paired with them (positives and negatives)."""

    source: str
    queries: list[str] = field(default_factory=list)
    document_texts: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: Iterable[dict], source: str) -> TrainingData:
        """From training rows (`query`, `pos`, `neg`), as `load_training_rows` returns them."""
        data = cls(source=source)
        for row in rows:
            data.queries.append(row["query"])
            data.document_texts.extend(row.get("pos") or [])
            data.document_texts.extend(row.get("neg") or [])
        return data


def load_training_data(spec: str) -> TrainingData:
    """The training dataset `spec` (folder, file or Hub repo `org/name[@revision]`)."""
    data = TrainingData.from_rows(load_training_rows(spec), spec)
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

    def check_task(self, task: EvalTask) -> TaskContamination:
        """Compare the training data with one task's test queries and gold documents."""
        matcher = QueryDecontaminator(task.queries, task.query_ids, encoder=self.encoder)
        matches = matcher.match(self.data.queries)
        hits = [(i, m) for i, m in enumerate(matches) if m is not None]
        gold = task.judged_documents()
        in_training: set[str] = set()
        if self.text_hashes:
            for doc_id, text in zip(task.doc_ids, task.texts, strict=True):
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
            task=task.name,
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
