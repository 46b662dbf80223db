"""Seed selection: which corpus documents queries are written from.

Per domain, in order: length window (`min_chars` <= len(text) <= `max_chars`), exclusion of
benchmark test documents (BRIGHT gold_ids and excluded_ids of the domain's task, and ids listed in
files), deduplication by normalised-text hash (first doc_id in sorted order wins), then a seeded
sample of `max_seeds` (documents sorted by doc_id first, so the same seed gives the same seeds
whatever the file order). Output rows: `source_doc_id`, `source_text`, `domain`.

With `pacing_file`, the step waits before each batch until at most `seeds_in_flight` seeds are
inside the pipeline (`reasonembed.steps.seed_gate`: memory bounded by batch sizes, not by the dataset).
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from distilabel.mixins.signature import SignatureMixin
from distilabel.steps import GeneratorStep
from distilabel.typing import GeneratorStepOutput
from pydantic import Field

from reasonembed.bright.data import BRIGHT_TASKS, load_bright_gold_ids
from reasonembed.config import DomainRun, SeedConfig
from reasonembed.data.corpus import Corpus, load_corpus
from reasonembed.data.textnorm import normalized_text_hash
from reasonembed.errors import UserError
from reasonembed.steps.seed_gate import SeedGate

logger = logging.getLogger(__name__)

# how the steps are paced changes no output: not part of the steps' cache signature
PACING_FIELDS = {"pacing_file", "seeds_in_flight"}
UNSIGNED_FIELDS = SignatureMixin.model_fields["exclude_from_signature"].default | PACING_FIELDS


def excluded_ids(
    domain: str, seeds: SeedConfig, bright: str | None, bright_task: str | None = None
) -> set[str]:
    """Doc ids that may never be seeds: BRIGHT test documents (gold and excluded ids of every
    query of the task's corpus) and ids listed in files."""
    ids: set[str] = set()
    if bright:
        task = bright_task or domain
        if task in BRIGHT_TASKS:
            ids |= load_bright_gold_ids(bright, tasks=[task], include_excluded=True).get(
                task, set()
            )
    for file in seeds.exclude_ids_files:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise UserError(f"{file}: cannot read excluded ids file: {error.strerror}") from error
        ids |= {line.strip() for line in lines if line.strip()}
    return ids


def seed_quota(run: DomainRun, seeds: SeedConfig) -> int:
    """How many seeds the domain gets (its max_seeds, capped by seeds.max_seeds_per_domain)."""
    return min(run.max_seeds or seeds.max_seeds_per_domain, seeds.max_seeds_per_domain)


def select_seeds(
    corpus: Corpus,
    run: DomainRun,
    seeds: SeedConfig,
    seed: int,
    bright: str | None = None,
    oversample: float = 1.0,
) -> tuple[list[dict[str, str]], Counter]:
    """(seed rows, counts: considered / too_short / too_long / benchmark_test_document /
    duplicate_text / not_sampled / selected). `oversample` > 1 draws that many times the quota,
    in sampling order, for the domain filter to choose from (DomainFilterConfig)."""
    counts: Counter = Counter(considered=len(corpus))
    excluded = excluded_ids(run.domain, seeds, bright, run.corpus.bright_task)
    seen_hashes: set[str] = set()
    eligible: list[tuple[str, str]] = []
    for doc_id, text in sorted(zip(corpus.doc_ids, corpus.texts, strict=True)):
        if len(text) < seeds.min_chars:
            counts["too_short"] += 1
        elif len(text) > seeds.max_chars:
            counts["too_long"] += 1
        elif doc_id in excluded:
            counts["benchmark_test_document"] += 1
        else:
            text_key = normalized_text_hash(text)
            if text_key in seen_hashes:
                counts["duplicate_text"] += 1
                continue
            seen_hashes.add(text_key)
            eligible.append((doc_id, text))
    limit = math.ceil(seed_quota(run, seeds) * oversample)
    rng = random.Random(f"{seed}:{run.domain}")
    chosen = rng.sample(eligible, k=min(limit, len(eligible)))  # in sampling order
    counts["not_sampled"] = len(eligible) - len(chosen)
    counts["selected"] = len(chosen)
    rows = [
        {"source_doc_id": doc_id, "source_text": text, "domain": run.domain}
        for doc_id, text in chosen
    ]
    logger.info("seeds %s: %s", run.domain, dict(counts))
    return rows, counts


class SelectSeeds(GeneratorStep):
    """Loads each domain's corpus and yields its seeds (see module docstring).

    `domain_runs` and `seeds` are the `domains` and `seeds` blocks of a FactoryConfig.
    `seeds_file`: a JSONL of seed rows already selected from these settings (`reasonembed
    generate` selects them while validating the corpora, before any LLM call, and passes them
    here rather than reading every corpus again); None: select them here.
    `pacing_file`, `seeds_in_flight`: the back-pressure gate shared with the leaf step
    (`reasonembed.steps.seed_gate`); None: no gate.
    """

    domain_runs: list[DomainRun]
    seeds: SeedConfig = Field(default_factory=SeedConfig)
    sampling_seed: int = 42
    bright: str | None = None
    seeds_file: str | None = None
    oversample: float = Field(default=1.0, ge=1.0)
    pacing_file: str | None = None
    seeds_in_flight: int | None = Field(default=None, ge=1)
    exclude_from_signature: set[str] = Field(default=UNSIGNED_FIELDS, exclude=True)

    @property
    def outputs(self) -> list[str]:
        return ["source_doc_id", "source_text", "domain"]

    def all_seeds(self) -> list[dict[str, str]]:
        if self.seeds_file:
            with open(self.seeds_file, encoding="utf-8") as handle:
                return [json.loads(line) for line in handle if line.strip()]
        rows: list[dict[str, str]] = []
        for run in self.domain_runs:
            corpus = load_corpus(run.corpus, run.domain)
            rows.extend(
                select_seeds(
                    corpus, run, self.seeds, self.sampling_seed, self.bright, self.oversample
                )[0]
            )
        return rows

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        rows = self.iter_seeds()
        total = self.count_seeds()
        if not total:
            yield [], True
            return
        for _ in range(offset):
            next(rows)
        gate = self._gate(offset)
        waited = 0.0
        for start in range(offset, total, self.batch_size):
            batch = [next(rows) for _ in range(min(self.batch_size, total - start))]
            if gate is not None:
                waited += gate.wait_for_room(start + len(batch), self.seeds_in_flight)
            yield batch, start + self.batch_size >= total
        if gate is not None:
            logger.info(
                "seeds: %d emitted, at most %d in flight; waited %.1f s for the pipeline to "
                "catch up",
                total,
                self.seeds_in_flight,
                waited,
            )

    def _gate(self, offset: int) -> SeedGate | None:
        if not self.pacing_file or not self.seeds_in_flight:
            return None
        if offset:
            logger.info(
                "seeds: resumed by distilabel at seed %d; the rows in flight before the stop are "
                "unknown, so this run is not paced",
                offset,
            )
            return None
        gate = SeedGate(self.pacing_file)
        gate.start()
        return gate

    def count_seeds(self) -> int:
        if self.seeds_file:
            with open(self.seeds_file, encoding="utf-8") as handle:
                return sum(1 for line in handle if line.strip())
        return len(self.all_seeds())

    def iter_seeds(self) -> Iterator[dict[str, str]]:
        """The seed rows in order; from `seeds_file`, streamed (never all in memory)."""
        if not self.seeds_file:
            yield from self.all_seeds()
            return
        with open(self.seeds_file, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
