"""Triviality filters and decontamination on crafted samples; counts by reason."""

from __future__ import annotations

import pydantic
import pytest

from reasonembed.quality import filters as fl
from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import QueryDecontaminator
from tests.quality.fixtures import OTHER_TEXTS, SOURCE, candidate, sample

OWN_WORDS = "Why would a houseplant kept in a dark corner grow slowly even with plenty of water?"
QUOTING = (
    "Is it true that the light reactions take place in the thylakoid membranes and produce "
    "ATP and NADPH?"
)
BRIGHT_LIKE = (
    "Why do the leaves of deciduous trees change colour in autumn before they fall, and what "
    "happens to the chlorophyll and the carotenoids during that period of the year?"
)


def good_candidates() -> list[dict]:
    return [
        candidate("p1", OTHER_TEXTS[0], 1, 4),
        candidate("p2", OTHER_TEXTS[1], 2, 3),
        candidate("n1", OTHER_TEXTS[2], 3, 1),
        candidate("n2", OTHER_TEXTS[3], 4, 2),
    ]


def test_a_query_that_quotes_its_source_is_dropped():
    config = fl.TrivialityConfig()
    outcome = fl.filter_sample(sample(QUOTING, good_candidates()), config)
    assert outcome.sample is None and outcome.reason == fl.DROP_SOURCE_COPY
    kept = fl.filter_sample(sample(OWN_WORDS, good_candidates()), config)
    assert kept.reason is None and kept.sample["query"] == OWN_WORDS
    assert kept.sample[tv.TRIVIALITY_SOURCE_COPY_SHARE] < 0.1
    # the threshold is the config's: raised above the quote's share, the quote stays
    assert fl.filter_sample(sample(QUOTING, good_candidates()), config.model_copy(update={"max_source_copy_share": 0.95, "max_source_copy_chars": None})).sample is not None  # fmt: skip


def test_a_duplicate_of_the_source_under_a_new_id_never_becomes_a_positive():
    candidates = [candidate("copy-of-src", "\n" + SOURCE.upper() + "  ", 1, 5)] + good_candidates()
    outcome = fl.filter_sample(sample(OWN_WORDS, candidates), fl.TrivialityConfig())
    kept = outcome.sample
    assert "copy-of-src" not in [c["doc_id"] for c in kept["candidates"]]
    assert kept[tv.TRIVIALITY_SOURCE_DUPLICATE_IDS] == ["copy-of-src"]
    assert kept[tv.TRIVIALITY_SOURCE_DUPLICATES] == 1
    assert (kept["n_positives"], kept["n_negatives"]) == (2, 2)
    assert kept[tv.TRIVIALITY_POSITIVE_RANKS] == [1, 2]
    assert outcome.removed == {fl.REMOVED_SOURCE_DUPLICATE: 1}
    # a near-duplicate found by cosine in mining (listed by id) is removed too
    mined = sample(OWN_WORDS, [candidate("near", "reworded source", 1, 5)] + good_candidates(),
                   triviality_source_duplicate_ids=["near"])  # fmt: skip
    assert [c["doc_id"] for c in fl.filter_sample(mined, fl.TrivialityConfig()).sample["candidates"]] == ["p1", "p2", "n1", "n2"]  # fmt: skip
    # when the duplicate was the only positive, the sample goes
    only = [candidate("copy-of-src", SOURCE, 1, 5), candidate("n1", OTHER_TEXTS[2], 2, 1)]
    assert (
        fl.filter_sample(sample(OWN_WORDS, only), fl.TrivialityConfig()).reason
        == fl.DROP_NO_POSITIVE
    )
    # the source's own id among the candidates is removed and counted apart (a mining bug)
    own = fl.filter_sample(sample(OWN_WORDS, [candidate("src-1", "x", 1, 5)] + good_candidates()), fl.TrivialityConfig())  # fmt: skip
    assert own.removed == {fl.REMOVED_SOURCE_DOCUMENT: 1}


def test_a_query_copied_from_a_bright_test_query_is_dropped():
    decontaminator = QueryDecontaminator([BRIGHT_LIKE], ["biology/7"])
    edited = BRIGHT_LIKE.replace("autumn", "the fall season").replace("colour", "color")
    rows = fl.decontaminate_rows(
        [sample(edited, good_candidates()), sample(OWN_WORDS, good_candidates())], decontaminator
    )
    assert rows[0]["decontamination_bright_match_id"] == "biology/7"
    assert rows[1]["decontamination_bright_match_id"] is None
    assert fl.query_drop_reason(rows[0], fl.TrivialityConfig()) == fl.DROP_BRIGHT_QUERY
    assert fl.query_drop_reason(dict(rows[1]), fl.TrivialityConfig()) is None
    off = fl.TrivialityConfig(decontaminate=False)
    assert fl.filter_sample(rows[0], off).sample is not None


def test_reasoning_query_is_checked_when_the_query_is_clean():
    decontaminator = QueryDecontaminator([BRIGHT_LIKE], ["biology/7"])
    row = sample(OWN_WORDS, good_candidates(), reasoning_query="Step by step. " + BRIGHT_LIKE)
    (checked,) = fl.decontaminate_rows([row], decontaminator)
    assert checked["decontamination_bright_method"] == "ngram"


def test_bright_gold_candidates_are_counted_and_strict_removes_them():
    gold = {"biology": {"p2", "n1"}}
    lenient = fl.filter_sample(sample(OWN_WORDS, good_candidates()), fl.TrivialityConfig(), gold)
    assert lenient.sample["decontamination_bright_gold_candidates"] == 2
    assert len(lenient.sample["candidates"]) == 4 and not lenient.removed
    strict = fl.filter_sample(
        sample(OWN_WORDS, good_candidates()), fl.TrivialityConfig(strict=True), gold
    )
    assert [c["doc_id"] for c in strict.sample["candidates"]] == ["p1", "n2"]
    assert strict.removed == {fl.REMOVED_BRIGHT_GOLD: 2}
    other_domain = fl.filter_sample(sample(OWN_WORDS, good_candidates(), domain="economics"), fl.TrivialityConfig(strict=True), gold)  # fmt: skip
    assert other_domain.sample["decontamination_bright_gold_candidates"] == 0


def test_lexically_trivial_queries_are_dropped_only_when_asked():
    row = sample(OWN_WORDS, good_candidates(), triviality_bm25_top_ids=["p2", "x", "p1"])
    assert fl.filter_sample(row, fl.TrivialityConfig()).sample[tv.TRIVIALITY_POSITIVE_BM25_RANKS] == [3, 1]  # fmt: skip
    on = fl.TrivialityConfig(drop_lexically_trivial=True, lexical_top_k=3)
    assert fl.filter_sample(row, on).reason == fl.DROP_LEXICALLY_TRIVIAL
    assert fl.filter_sample(row, on.model_copy(update={"lexical_top_k": 2})).sample is not None
    hard = sample(OWN_WORDS, good_candidates(), triviality_bm25_top_ids=["p1", "n1"])
    assert fl.filter_sample(hard, on).sample is not None


def test_counts_by_reason_are_right():
    decontaminator = QueryDecontaminator([BRIGHT_LIKE], ["biology/7"])
    dup = [candidate("dup", SOURCE, 1, 5)]
    batch = [
        sample(QUOTING, good_candidates()),
        sample(QUOTING + " Explain.", good_candidates()),
        sample(BRIGHT_LIKE, good_candidates()),
        sample(OWN_WORDS, good_candidates()[:2]),  # no negative
        sample(OWN_WORDS + " 1", dup + good_candidates()),
        sample(OWN_WORDS + " 2", dup + good_candidates()),
        sample(OWN_WORDS + " 3", good_candidates()),
    ]
    rows = fl.decontaminate_rows(batch, decontaminator)
    kept, counts = fl.filter_samples(rows, fl.TrivialityConfig(strict=True), {"biology": {"n2"}})
    assert [row["query"] for row in kept] == [OWN_WORDS + " 1", OWN_WORDS + " 2", OWN_WORDS + " 3"]
    assert counts.as_stats() == {
        "seen": 7,
        "kept": 3,
        "drops": {"bright_query_contamination": 1, "no_negative": 1, "source_copy": 2},
        "candidate_drops": {"bright_gold_document": 3, "source_duplicate": 2},
        "bright_gold_candidates": 3,
    }
    counts.add_query_drop(fl.DROP_SOURCE_COPY)
    counts.add_query_drop(None)
    assert (counts.seen, counts.kept, counts.drops[fl.DROP_SOURCE_COPY]) == (9, 4, 3)


def test_config_rejects_unknown_and_out_of_range_settings():
    with pytest.raises(pydantic.ValidationError):
        fl.TrivialityConfig(max_copy=0.3)
    with pytest.raises(pydantic.ValidationError):
        fl.TrivialityConfig(max_source_copy_share=1.5)
    assert fl.TrivialityConfig().model_dump()["max_source_copy_share"] == 0.5
