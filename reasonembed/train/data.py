"""Training rows -> domain-homogeneous batches of (query, reasoning query, passage group).

Contracts:
- `check_rows(rows, loss, group_size, batch_size)` raises `UserError` naming the file and row
  before training starts: a missing `reasoning_query` under ri-infonce, a row whose group needs
  negatives but has none, or a domain whose rows disagree on `train_group_size`/`batch_size`
  (a batch is one domain with one setting). Returns the per-domain `DomainSettings`.
- `plan_batches(rows, settings, world_size, seed, epoch)`: the epoch's global batches, each a
  list of `world_size * batch_size` row indices from ONE domain, in a seeded order; every rank
  computes the same plan. A domain's trailing partial batch is dropped (the gathered batch must
  be the same size on every rank).
- `build_group(row, group_size, rng)`: 1 positive and group_size - 1 negatives (negatives
  repeated when there are fewer, as FlagEmbedding does).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE, format_query

logger = logging.getLogger(__name__)

# paper settings (StackExchange and math domains); per-row values win, then overrides
DEFAULT_GROUP_SIZE = 16
DEFAULT_BATCH_SIZE = 8


@dataclass(frozen=True)
class DomainSettings:
    group_size: int
    batch_size: int


@dataclass
class Batch:
    """One rank's share of a global batch: texts ready for the encoder."""

    domain: str
    queries: list[str]
    reasoning_queries: list[str] | None
    passages: list[str]  # len(queries) * group_size, query i's positive at i * group_size
    group_size: int


def where(row: dict, index: int | None = None) -> str:
    """`file, row N` of a loaded row; `given rows, row N` (1-based) for rows built in memory."""
    if "source_file" in row:
        return f"{row['source_file']}, row {row.get('source_row', '?')}"
    return f"given rows, row {index + 1 if index is not None else '?'}"


def check_rows(
    rows: Sequence[dict],
    loss: str,
    group_size: int | None = None,
    batch_size: int | None = None,
) -> dict[str, DomainSettings]:
    """Validate rows for training; per-domain group and batch sizes (overrides win)."""
    if not rows:
        raise UserError("no training rows")
    settings: dict[str, DomainSettings] = {}
    first_row: dict[str, str] = {}
    for index, row in enumerate(rows):
        domain = row.get("domain") or "default"
        if not row.get("pos"):
            raise UserError(f"{where(row, index)}: field 'pos' has no positive")
        if loss == "ri-infonce" and not row.get("reasoning_query"):
            raise UserError(
                f"{where(row, index)}: field 'reasoning_query' is missing or empty, and --loss ri-infonce "
                "needs it; add it to the data or train with --loss infonce"
            )
        this = DomainSettings(
            group_size=group_size or row.get("train_group_size") or DEFAULT_GROUP_SIZE,
            batch_size=batch_size or row.get("batch_size") or DEFAULT_BATCH_SIZE,
        )
        if domain not in settings:
            settings[domain], first_row[domain] = this, where(row, index)
        elif settings[domain] != this:
            raise UserError(
                f"{where(row, index)}: domain {domain!r} mixes batch settings (train_group_size "
                f"{this.group_size}, batch_size {this.batch_size}) with those of "
                f"{first_row[domain]} ({settings[domain].group_size}, "
                f"{settings[domain].batch_size}); each batch is drawn from one domain with one "
                "setting: fix the rows or pass --group-size/--batch-size"
            )
        if this.group_size > 1 and not row.get("neg"):
            raise UserError(
                f"{where(row, index)}: field 'neg' is empty but train_group_size is {this.group_size}; "
                "add hard negatives or pass --group-size 1 (in-batch negatives only)"
            )
    return settings


def plan_batches(
    rows: Sequence[dict],
    settings: dict[str, DomainSettings],
    world_size: int,
    seed: int,
    epoch: int,
) -> list[list[int]]:
    """Global batches of row indices for one epoch (see module doc)."""
    rng = random.Random(f"{seed}-plan-{epoch}")
    by_domain: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_domain.setdefault(row.get("domain") or "default", []).append(index)
    batches: list[list[int]] = []
    for domain in sorted(by_domain):
        indices = by_domain[domain]
        rng.shuffle(indices)
        size = settings[domain].batch_size * world_size
        full = len(indices) // size
        if full == 0:
            logger.warning(
                "domain %r: %d rows, fewer than one global batch of %d: skipped",
                domain,
                len(indices),
                size,
            )
        batches.extend(indices[i * size : (i + 1) * size] for i in range(full))
    rng.shuffle(batches)
    if not batches:
        raise UserError(
            f"no domain has enough rows for one global batch (batch_size x {world_size} "
            "process(es)); pass a smaller --batch-size"
        )
    return batches


def build_group(row: dict, group_size: int, rng: random.Random) -> list[str]:
    """[positive, negative_1, ..., negative_{G-1}] for one row."""
    group = [rng.choice(row["pos"])]
    wanted = group_size - 1
    if wanted > 0:
        negatives = list(row["neg"])
        if len(negatives) < wanted:
            negatives = negatives * math.ceil(wanted / len(negatives))
        group.extend(rng.sample(negatives, wanted))
    return group


def make_batch(
    rows: Sequence[dict],
    indices: Sequence[int],
    settings: DomainSettings,
    seed: int,
    step: int,
    with_reasoning: bool,
    query_template: str = DEFAULT_QUERY_TEMPLATE,
) -> Batch:
    """Texts of the rows `indices` (one rank's slice of a global batch) for training step `step`.

    Passage sampling is seeded by (seed, step, row index): the same on every run and on resume.
    """
    queries: list[str] = []
    reasoning: list[str] = []
    passages: list[str] = []
    for index in indices:
        row = rows[index]
        rng = random.Random(f"{seed}-group-{step}-{index}")
        prompt = row.get("prompt") or None
        queries.append(format_query(row["query"], prompt, query_template))
        if with_reasoning:
            reasoning.append(format_query(row["reasoning_query"], prompt, query_template))
        passages.extend(build_group(row, settings.group_size, rng))
    return Batch(
        domain=rows[indices[0]].get("domain") or "default",
        queries=queries,
        reasoning_queries=reasoning if with_reasoning else None,
        passages=passages,
        group_size=settings.group_size,
    )
