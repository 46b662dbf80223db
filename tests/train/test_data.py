"""Row checks, domain-homogeneous batch plans and passage groups."""

from __future__ import annotations

import random

import pytest

from reasonembed.errors import UserError
from reasonembed.train.data import DomainSettings, build_group, check_rows, make_batch, plan_batches


def make_rows(domain: str, count: int, group: int, batch: int, **extra) -> list[dict]:
    rows = []
    for i in range(count):
        row = {
            "prompt": f"Retrieve {domain} passages.",
            "query": f"{domain} query {i}",
            "reasoning_query": f"{domain} query {i}, reasoned",
            "pos": [f"{domain} positive {i}"],
            "neg": [f"{domain} negative {i}.{k}" for k in range(3)],
            "train_group_size": group,
            "batch_size": batch,
            "domain": domain,
            "source_file": f"{domain}-formatted.jsonl",
            "source_row": i + 1,
        }
        row.update(extra)
        rows.append(row)
    return rows


def test_plan_is_domain_homogeneous_and_scales_per_domain_batch_sizes():
    rows = make_rows("biology", 10, group=4, batch=3) + make_rows("pony", 9, group=8, batch=2)
    settings = check_rows(rows, "ri-infonce")
    assert settings == {"biology": DomainSettings(4, 3), "pony": DomainSettings(8, 2)}
    plan = plan_batches(rows, settings, batch_scale=2, world_size=2, seed=7, epoch=0)
    # global batch = batch_size x scale: biology 10 rows // 6 = 1 batch; pony 9 // 4 = 2 batches
    assert sorted(len(batch) for batch in plan) == [4, 4, 6]
    for batch in plan:
        assert len({rows[i]["domain"] for i in batch}) == 1
    assert plan == plan_batches(rows, settings, batch_scale=2, world_size=2, seed=7, epoch=0)
    assert len({i for batch in plan for i in batch}) == sum(len(b) for b in plan)
    # the number of processes does not change the plan: one process sees the same batches
    assert plan == plan_batches(rows, settings, batch_scale=2, world_size=1, seed=7, epoch=0)
    # a scale keeps the domains' ratio (pony's 2 stays below biology's 3), at least 1 query
    assert [settings[d].global_queries(0.5) for d in ("biology", "pony")] == [2, 1]
    assert DomainSettings(16, 8).global_queries(8) * 16 == 1024  # the paper's 8-GPU batch


def test_global_batch_that_processes_cannot_share_evenly_fails():
    rows = make_rows("biology", 12, group=4, batch=3)
    settings = check_rows(rows, "infonce")
    with pytest.raises(UserError, match=r"'biology': a global batch of 3 queries .* 2 processes"):
        plan_batches(rows, settings, batch_scale=1, world_size=2, seed=0, epoch=0)
    with pytest.raises(UserError, match=r"pass a smaller --batch-scale \(at most 4 fits"):
        plan_batches(rows, settings, batch_scale=8, world_size=1, seed=0, epoch=0)


def test_group_size_override_wins_over_row_settings():
    rows = make_rows("biology", 4, group=4, batch=3)
    assert check_rows(rows, "infonce", group_size=2) == {"biology": DomainSettings(2, 3)}


def test_missing_reasoning_query_fails_only_under_ri_infonce():
    rows = make_rows("biology", 3, group=2, batch=1)
    rows[2]["reasoning_query"] = None
    assert check_rows(rows, "infonce")
    with pytest.raises(UserError, match=r"biology-formatted.jsonl, row 3: field 'reasoning_query'"):
        check_rows(rows, "ri-infonce")


def test_mixed_batch_settings_within_a_domain_fail_naming_both_rows():
    rows = make_rows("biology", 2, group=4, batch=2) + make_rows("biology", 1, group=16, batch=2)
    rows[2]["source_row"] = 9
    with pytest.raises(UserError, match=r"row 9: domain 'biology' mixes batch settings.*row 1"):
        check_rows(rows, "infonce")


def test_group_needing_negatives_without_any_fails():
    rows = make_rows("biology", 2, group=4, batch=1)
    rows[1]["neg"] = []
    with pytest.raises(UserError, match=r"row 2: field 'neg' is empty"):
        check_rows(rows, "infonce")
    assert check_rows(rows, "infonce", group_size=1)


def test_group_has_positive_first_and_repeats_short_negatives():
    row = {"pos": ["p1", "p2"], "neg": ["n1", "n2"]}
    group = build_group(row, 6, random.Random(0))
    assert len(group) == 6 and group[0] in row["pos"]
    assert set(group[1:]) == {"n1", "n2"} and sorted(group[1:]).count("n1") >= 2


def test_batch_formats_instruction_and_places_positives_at_group_starts():
    rows = make_rows("biology", 2, group=3, batch=2)
    batch = make_batch(rows, [0, 1], DomainSettings(3, 2), seed=1, step=0, with_reasoning=True)
    assert batch.queries[0] == "Instruct: Retrieve biology passages.\nQuery: biology query 0"
    assert batch.reasoning_queries[1].endswith("biology query 1, reasoned")
    assert batch.passages[0] == "biology positive 0" and batch.passages[3] == "biology positive 1"
    assert len(batch.passages) == 6


def test_rows_built_in_memory_are_named_by_position():
    rows = make_rows("biology", 3, group=2, batch=1)
    for row in rows:
        del row["source_file"], row["source_row"]
    rows[1]["neg"] = []
    with pytest.raises(UserError, match=r"given rows, row 2: field 'neg'"):
        check_rows(rows, "infonce")
