"""`write_audit_sample` / `read_audit_sample` (reasonembed.quality.audit_sample): the stratified,
reproducible sample of the judge's labels, drawn from output folders written by the factory's
own writer (tests/support/factory_output.py) and from the browser's hand-made folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from reasonembed.quality import audit_sample
from reasonembed.quality.audit_sample import (
    FORMAT,
    allocate,
    read_audit_sample,
    sample_path,
    write_audit_sample,
)
from tests.quality.fixtures import make_output_folder
from tests.support.factory_output import annotated_row, write_output

PER_DOMAIN = 120


def scores_for(domain: str, index: int) -> list[int]:
    """Uneven strata: biology has every score, economics a rare 3 and no 5, leetcode mostly 5/1
    with a rare 2 and 3."""
    if domain == "biology":
        return [5, 4, 3, 2, 1, 1, 1, 1]
    if domain == "economics":
        return [4, 4, 3 if index % 10 == 0 else 2, 2, 1, 1, 1, 1]
    return [5, 1, 1, 1, 1, 1, 1] + ([2, 3] if index % 25 == 0 else [])


def judged_output(root: Path) -> Path:
    """3 x 120 kept samples, 2,800+ judgements, in 3 raw shards of 50-row row groups."""
    domains = ("biology", "economics", "leetcode")
    rows = [
        annotated_row(domain, index, revision=1, scores=scores_for(domain, index))
        for domain in domains
        for index in range(PER_DOMAIN)
    ]
    counts = dict.fromkeys(domains, PER_DOMAIN)
    return write_output(root, domains=counts, rows=rows, raw_shards=3, batch_rows=50)


def raw_pairs(folder: Path) -> dict[str, tuple[str, int]]:
    """{pair_id: (domain, score)} of every judged candidate in raw/, read whole (small here)."""
    pairs = {}
    for path in OutputFolder(folder).raw_files():
        for row in pq.read_table(path, columns=["sample_id", "domain", "candidates"]).to_pylist():
            for candidate in row["candidates"]:
                if candidate["relevance_score"] is not None:
                    pid = f"{row['sample_id']}/{candidate['doc_id']}"
                    pairs[pid] = (row["domain"], candidate["relevance_score"])
    return pairs


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return judged_output(tmp_path_factory.mktemp("audit") / "out")


@pytest.fixture(scope="module")
def truth(folder) -> dict[str, tuple[str, int]]:
    return raw_pairs(folder)


def draw(folder: Path, n: int, seed: int = 0) -> dict:
    write_audit_sample(folder, n, seed)
    return read_audit_sample(folder)


def test_sample_is_reproducible_stratified_and_only_judged_pairs(folder, truth):
    assert len(truth) > 2_500
    strata = Counter(f"{domain}|{score}" for domain, score in truth.values())
    assert len(strata) == 13 and strata["economics|3"] == 12 and strata["leetcode|3"] == 5

    first = draw(folder, 40)
    assert first["format"] == FORMAT and first["seed"] == 0 and first["n_requested"] == 40
    assert first["config_hash"] == "cfg0000000000001" and first["positive_threshold"] == 3
    assert first["created_at"].endswith("Z")
    pairs = first["pairs"]
    assert len(pairs) == 40 and len({p["pair_id"] for p in pairs}) == 40
    for pair in pairs:  # each one a judged candidate of a kept sample, its score the judge's
        assert pair["pair_id"] == f"{pair['sample_id']}/{pair['doc_id']}"
        assert truth[pair["pair_id"]] == (pair["domain"], pair["llm_score"])
        assert pair["stratum"] == f"{pair['domain']}|{pair['llm_score']}"
    assert set(Counter(p["stratum"] for p in pairs)) == set(strata)  # every stratum present
    digest = hashlib.sha256("\n".join(sorted(p["pair_id"] for p in pairs)).encode()).hexdigest()
    assert first["sample_digest"] == digest

    again = draw(folder, 40)
    assert again["pairs"] == pairs and again["sample_digest"] == digest
    other = draw(folder, 40, seed=1)
    assert other["seed"] == 1 and other["sample_digest"] != digest
    assert {p["pair_id"] for p in other["pairs"]} != {p["pair_id"] for p in pairs}
    assert Counter(p["stratum"] for p in other["pairs"]) == Counter(p["stratum"] for p in pairs)


def test_pairs_are_spread_over_the_strata_as_their_sizes_allow(folder, truth):
    sizes = Counter(f"{domain}|{score}" for domain, score in truth.values())
    for n in (13, 60, 200):
        counts = Counter(p["stratum"] for p in draw(folder, n)["pairs"])
        assert sum(counts.values()) == n
        assert counts == Counter(allocate(dict(sizes), n))
        assert all(counts[s] <= sizes[s] for s in counts)
    counts = Counter(p["stratum"] for p in draw(folder, 200)["pairs"])
    assert counts["leetcode|3"] == 5 and counts["economics|3"] == 12  # small strata: all of it
    assert max(counts.values()) - min(c for s, c in counts.items() if sizes[s] > 20) <= 1
    # more pairs asked than there are: every judged pair, once
    everything = draw(folder, 10**6)["pairs"]
    assert len(everything) == len(truth) and {p["pair_id"] for p in everything} == set(truth)


def test_a_larger_sample_holds_the_smaller_one_stratum_by_stratum(folder):
    """Inside a stratum the pairs are taken in the seed's hash order."""
    small = draw(folder, 26)["pairs"]
    large = draw(folder, 130)["pairs"]
    assert {p["pair_id"] for p in small} < {p["pair_id"] for p in large}


def test_allocate_gives_equal_shares_the_remainder_to_the_largest():
    assert allocate({"a": 2, "b": 100, "c": 100}, 30) == {"a": 2, "b": 14, "c": 14}
    assert allocate({"a": 10, "b": 10, "c": 11}, 10) == {"a": 3, "b": 3, "c": 4}
    assert allocate({"a": 10, "b": 10, "c": 11}, 2) == {"c": 1, "a": 1}
    assert allocate({"a": 1, "b": 3, "c": 0}, 50) == {"a": 1, "b": 3}
    assert allocate({"a": 5, "b": 6}, 11) == {"a": 5, "b": 6}


def test_streams_only_the_ids_and_scores_in_batches(folder, monkeypatch):
    """Batches of 64 rows give the same sample; no text column is ever read."""
    expected = draw(folder, 50)["pairs"]
    read_columns = []
    real = pq.ParquetFile.iter_batches

    def recording(self, batch_size=65536, row_groups=None, columns=None, **kwargs):
        read_columns.append((batch_size, tuple(columns or ())))
        return real(self, batch_size, row_groups, columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording)
    monkeypatch.setattr(audit_sample, "BATCH_ROWS", 64)
    shutil.rmtree(OutputFolder(folder).report_dir)  # the page would read texts
    try:
        assert draw(folder, 50)["pairs"] == expected
    finally:
        OutputFolder(folder).report_dir.mkdir()
    assert len(read_columns) == 3 and all(size == 64 for size, _ in read_columns)
    for _, columns in read_columns:
        assert {c.split(".")[-1] for c in columns} <= {
            "sample_id", "domain", "doc_id", "relevance_score", "config_hash",
        }  # fmt: skip


def test_null_scores_are_never_drawn(tmp_path):
    """The browser's hand-made folder has unparsed (null) scores in raw."""
    folder = make_output_folder(tmp_path / "out", n_samples=30)
    table = pq.read_table(OutputFolder(folder).raw_files()[0]).to_pylist()
    nulls = sum(c["relevance_score"] is None for row in table for c in row["candidates"])
    judged = sum(c["relevance_score"] is not None for row in table for c in row["candidates"])
    assert nulls > 0
    pairs = draw(folder, 10_000)["pairs"]
    assert len(pairs) == judged and all(isinstance(p["llm_score"], int) for p in pairs)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_errors_are_one_line(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as error:
        write_audit_sample(empty, 10)
    assert "no raw parquet files" in one_line(error)
    with pytest.raises(UserError) as error:
        write_audit_sample(folder, 0)
    assert "--n must be at least 1 (got 0)" in one_line(error)
    with pytest.raises(UserError) as error:
        read_audit_sample(empty)
    assert f"run `reasonembed audit sample {empty}` first" in one_line(error)

    mixed = judged_output(tmp_path / "mixed")
    other = write_output(tmp_path / "other", revision=2)
    (shard, *_) = OutputFolder(other).raw_files()
    shutil.copy(shard, OutputFolder(mixed).subfolder("raw") / "train-99999-of-99999.parquet")
    with pytest.raises(UserError) as error:
        write_audit_sample(mixed, 10)
    message = one_line(error)
    assert "several config hashes" in message
    assert "cfg0000000000001" in message and "cfg0000000000002" in message
    assert not sample_path(mixed).exists()

    sample_path(empty).parent.mkdir()
    sample_path(empty).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UserError) as error:
        read_audit_sample(empty)
    assert "expected 'reasonembed-audit-sample/1'" in one_line(error)


def test_the_threshold_is_the_configs(tmp_path):
    folder = write_output(tmp_path / "out", annotation={"positive_threshold": 4})
    assert draw(folder, 5)["positive_threshold"] == 4
