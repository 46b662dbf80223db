"""QueryDecontaminator on crafted queries (always) and on the real BRIGHT test queries."""

from __future__ import annotations

import random

import pytest

from reasonembed.bright.data import load_bright_queries
from reasonembed.quality.decontamination import (
    DECONTAMINATION_BRIGHT_MATCH_ID,
    DECONTAMINATION_BRIGHT_METHOD,
    QueryDecontaminator,
    match_columns,
)
from tests.support.bright import SHARED_BRIGHT, needs_bright

TEST_QUERIES = [
    "Why do the leaves of deciduous trees change colour in autumn before they fall, and what "
    "happens to the chlorophyll and the carotenoids during that period of the year?",
    "How does a central bank raising interest rates reduce inflation when most loans are fixed rate?",
    "Given an array of integers, return the length of the longest strictly increasing subsequence.",
    "Prove that the sum of two odd numbers is even",
]
TEST_IDS = ["biology/1", "economics/2", "leetcode/3", "math/4"]


@pytest.fixture(scope="module")
def decontaminator() -> QueryDecontaminator:
    return QueryDecontaminator(TEST_QUERIES, TEST_IDS)


def light_edit(text: str, share: float, seed: int = 0) -> str:
    """Replace `share` of the words (at least one) with filler words, deterministically."""
    rng = random.Random(seed)
    tokens = text.split()
    for index in rng.sample(range(len(tokens)), max(1, int(len(tokens) * share))):
        tokens[index] = rng.choice(["really", "thing", "maybe", "quite"])
    return " ".join(tokens)


def test_exact_copy_matches_whatever_case_and_spacing(decontaminator):
    query = "  " + TEST_QUERIES[1].upper().replace(" ", "   ") + "\n"
    (match,) = decontaminator.match([query])
    assert match is not None
    assert (match.test_id, match.test_index, match.method, match.similarity) == (
        "economics/2",
        1,
        "exact",
        1.0,
    )


def test_test_query_quoted_inside_a_longer_query_matches_by_ngram(decontaminator):
    query = "I found this on a forum: " + TEST_QUERIES[0] + " Can someone explain it simply?"
    (match,) = decontaminator.match([query])
    assert match.method == "ngram" and match.test_id == "biology/1"
    assert match.similarity == pytest.approx(1.0)


def test_light_edit_of_a_short_query_matches_by_minhash(decontaminator):
    # 16 words: one word replaced breaks every 13-gram it covers, the word set barely moves.
    query = (
        "How does a central bank raising interest rates lower inflation when most loans are "
        "fixed rate?"
    )
    (match,) = decontaminator.match([query])
    assert match is not None and match.test_id == "economics/2"
    assert match.method in {"ngram", "minhash"}
    reordered = "When most loans are fixed rate, how does a central bank reduce inflation by raising interest rates?"
    (match,) = decontaminator.match([reordered])
    assert match is not None and match.method == "minhash" and match.test_id == "economics/2"
    assert 0.7 <= match.similarity < 1.0


def test_test_query_shorter_than_the_ngram_is_caught_inside_a_query(decontaminator):
    (match,) = decontaminator.match(
        ["Exercise 3. Prove that the sum of two odd numbers is even, using parity."]
    )
    assert match is not None and match.test_id == "math/4" and match.method == "ngram"


def test_unrelated_and_same_topic_queries_do_not_match(decontaminator):
    queries = [
        "Why do conifers keep their needles through the winter while oaks drop their leaves?",
        "What limits how fast a commercial bank can expand credit when reserves are scarce?",
        "Find the minimum number of coins that make a given amount of money.",
        "",
    ]
    assert decontaminator.match(queries) == [None, None, None, None]


def test_match_columns_and_bad_arguments(decontaminator):
    (match,) = decontaminator.match([TEST_QUERIES[2]])
    columns = match_columns(match)
    assert columns[DECONTAMINATION_BRIGHT_MATCH_ID] == "leetcode/3"
    assert columns[DECONTAMINATION_BRIGHT_METHOD] == "exact"
    assert set(match_columns(None).values()) == {None}
    with pytest.raises(ValueError, match="test_ids has 1 entries"):
        QueryDecontaminator(TEST_QUERIES, ["only-one"])
    assert [m.test_id for m in QueryDecontaminator(TEST_QUERIES).match(TEST_QUERIES)] == [
        "0", "1", "2", "3"
    ]  # fmt: skip


def test_embedding_check_catches_a_paraphrase_the_lexical_checks_miss():
    from reasonembed.retrieval import Encoder

    encoder = Encoder("minilm", device="cpu")
    lexical = QueryDecontaminator(TEST_QUERIES, TEST_IDS)
    semantic = QueryDecontaminator(TEST_QUERIES, TEST_IDS, encoder=encoder, embedding_threshold=0.8)
    paraphrase = (
        "In fall, before deciduous trees shed their foliage, why do the leaves turn colour and "
        "what becomes of chlorophyll and carotenoid pigments?"
    )
    unrelated = "Which sorting algorithm is stable and runs in linear time on small integer keys?"
    assert lexical.match([paraphrase]) == [None]
    match, miss = semantic.match([paraphrase, unrelated])
    assert match is not None and match.method == "embedding" and match.test_id == "biology/1"
    assert match.similarity >= 0.8
    assert miss is None


@needs_bright
@pytest.mark.bright
def test_real_bright_queries_copied_or_lightly_edited_are_caught():
    queries, ids = load_bright_queries(bright=str(SHARED_BRIGHT))
    assert len(queries) == 1384 and len(set(ids)) == len(ids)
    decontaminator = QueryDecontaminator(queries, ids)
    rng = random.Random(42)
    picked = rng.sample(range(len(queries)), 40)
    edited = [light_edit(queries[i], 0.1, seed=i) for i in picked]
    copied = ["Homework help please! " + queries[i] for i in picked[:10]]
    matches = decontaminator.match(edited + copied)
    assert all(match is not None for match in matches)
    for position, match in zip(picked + picked[:10], matches, strict=True):
        # a match names that very query, or a test query with the same text (BRIGHT repeats some)
        assert (
            queries[match.test_index].strip() == queries[position].strip()
            or match.test_id == ids[position]
        )
    fresh = [
        "Why do conifers keep their needles through the winter while oaks drop their leaves?",
        "What limits how fast a commercial bank can expand credit when reserves are scarce?",
        "Find the minimum number of coins that make a given amount of money, or -1 if impossible.",
        "My robot arm oscillates around the set point when I raise the proportional gain; why?",
    ]
    assert decontaminator.match(fresh) == [None] * len(fresh)


def test_digit_runs_shared_by_unrelated_queries_do_not_match():
    grid = "[" + ",".join(["0"] * 20) + "]"
    decontaminator = QueryDecontaminator(
        [f"Given the matrix {grid}, count the islands formed by ones connected vertically."],
        ["leetcode/9"],
    )
    unrelated = f"Return the maximum path sum in the grid {grid} moving only right or down."
    copied = f"Given the matrix {grid}, count the islands formed by ones connected vertically!"
    assert decontaminator.match([unrelated, copied])[0] is None
    assert decontaminator.match([copied])[0].method == "ngram"
