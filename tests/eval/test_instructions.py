"""Official and FlagEmbedding query instructions."""

import pytest

from reasonembed.errors import UserError
from reasonembed.eval.instructions import detect_family, instructions_for


def test_official_prefixes_use_the_raw_task_name_and_long_wording():
    bge = instructions_for("earth_science", "official", "bge")
    assert (
        bge.query("q?") == "Represent this earth_science post for searching relevant passages: q?"
    )
    e5_long = instructions_for("pony", "official", "e5", long=True)
    assert e5_long.query_prefix == (
        "Instruct: Given a pony question, retrieve relevant documents that help answer the "
        "question\nQuery: "
    )
    grit = instructions_for("theoremqa_theorems", "official", "grit")
    assert grit.document("d") == "<|embed|>\nd"
    instructor = instructions_for("biology", "official", "instructor")
    assert instructor.document_prefix == "Represent the biology paragraph for retrieval: "


def test_flagembedding_format_and_none():
    flag = instructions_for("stackoverflow", "flagembedding")
    assert flag.query("x") == (
        "Instruct: Given a Stack Overflow post, retrieve relevant passages that help answer "
        "the post.\nQuery: x"
    )
    assert instructions_for("aops", "none").query("x") == "x"
    assert instructions_for("aops", "official", "none").document("d") == "d"
    with pytest.raises(UserError):
        instructions_for("aops", "official", "unknown-family")


def test_family_detection():
    assert detect_family("BAAI/bge-large-en-v1.5") == "bge"
    assert detect_family("Alibaba-NLP/gte-Qwen2-7B-instruct") == "e5"
    assert detect_family("GritLM/GritLM-7B") == "grit"
    assert detect_family("hkunlp/instructor-xl") == "instructor"
    assert detect_family("minilm") == "none"
