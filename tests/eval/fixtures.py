"""A tiny BRIGHT-layout folder written by the tests (two tasks), with known rankings.

biology (ids with spaces, an empty document, a duplicated gold id, an excluded near-copy):
  q "0" photosynthesis: gold "bio/photo synthesis 0.txt" twice + "bio/photo synthesis 1.txt"
  q "1" moths: gold "bio/moths.txt"; excluded "bio/moth copy.txt" (the query, verbatim)
  q "2" ATP: gold "bio/dna.txt" only (the lexical match "bio/mitochondria.txt" is not gold)
leetcode (excluded_ids with real ids, gold_ids_long "N/A"):
  q "0" two sum: gold "leetcode/two_sum.txt"
  q "1" binary search: gold "leetcode/binary_search.txt" and "leetcode/missing.txt" (not in the
  corpus: recall can never be complete)
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BIOLOGY_DOCS = {
    "bio/photo synthesis 0.txt": "Photosynthesis in chloroplasts turns light energy into "
    "chemical energy stored in sugar made by green plants.",
    "bio/photo synthesis 1.txt": "Plants use chlorophyll in chloroplasts to capture light "
    "energy for making chemical energy.",
    "bio/moths.txt": "Moths fly toward artificial lamps at night because of phototaxis, an "
    "innate orientation response to bright lamps.",
    "bio/moth copy.txt": "Why are moths attracted to light at night?",
    "bio/mitochondria.txt": "Mitochondria produce ATP with oxygen during aerobic respiration.",
    "bio/dna.txt": "DNA polymerase copies the genome before division; replication is "
    "semi-conservative.",
    "bio/empty.txt": "",
    "bio/bones.txt": "Osteoblasts build bone tissue and osteoclasts resorb it.",
}
BIOLOGY_EXAMPLES = [
    {
        "id": "0",
        "query": "How do green plants turn light energy into chemical energy in chloroplasts?",
        "gold_ids": [
            "bio/photo synthesis 0.txt",
            "bio/photo synthesis 0.txt",
            "bio/photo synthesis 1.txt",
        ],
        "gold_ids_long": ["bio/photosynthesis.txt"],
        "excluded_ids": ["N/A"],
    },
    {
        "id": "1",
        "query": "Why are moths attracted to light at night?",
        "gold_ids": ["bio/moths.txt"],
        "gold_ids_long": ["bio/moths.txt"],
        "excluded_ids": ["bio/moth copy.txt"],
    },
    {
        "id": "2",
        "query": "Do mitochondria produce ATP with oxygen?",
        "gold_ids": ["bio/dna.txt"],
        "gold_ids_long": ["bio/dna.txt"],
        "excluded_ids": ["N/A"],
    },
]
LEETCODE_DOCS = {
    "leetcode/two_sum.txt": "Given an array of integers and a target, return indices of the "
    "two numbers whose sum equals the target, using a hash map.",
    "leetcode/binary_search.txt": "Binary search halves a sorted array to find a target "
    "value in logarithmic time.",
    "leetcode/two_sum_copy.txt": "Find two numbers in an array that sum to a target.",
    "leetcode/graph.txt": "Breadth first search visits graph vertices level by level.",
}
LEETCODE_EXAMPLES = [
    {
        "id": "0",
        "query": "Find two numbers in an array that sum to a target.",
        "gold_ids": ["leetcode/two_sum.txt"],
        "gold_ids_long": ["N/A"],
        "excluded_ids": ["leetcode/two_sum_copy.txt"],
    },
    {
        "id": "1",
        "query": "Use binary search to find a target value in a sorted array.",
        "gold_ids": ["leetcode/binary_search.txt", "leetcode/missing.txt"],
        "gold_ids_long": ["N/A"],
        "excluded_ids": ["leetcode/graph.txt"],
    },
]

EXAMPLE_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("reasoning", pa.string()),
        ("id", pa.string()),
        ("excluded_ids", pa.list_(pa.string())),
        ("gold_ids_long", pa.list_(pa.string())),
        ("gold_ids", pa.list_(pa.string())),
        ("gold_answer", pa.string()),
    ]
)


def write_task(root: Path, task: str, examples: list[dict], documents: dict[str, str]) -> None:
    rows = [{"reasoning": "", "gold_answer": "", **example} for example in examples]
    for config in ("examples", "documents", "long_documents"):
        (root / config).mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA),
        root / "examples" / f"{task}-00000-of-00001.parquet",
    )
    table = pa.table({"id": list(documents), "content": list(documents.values())})
    pq.write_table(table, root / "documents" / f"{task}-00000-of-00001.parquet")


def write_bright_fixture(root: Path) -> Path:
    """Write the two-task fixture under `root` and return it."""
    write_task(root, "biology", BIOLOGY_EXAMPLES, BIOLOGY_DOCS)
    write_task(root, "leetcode", LEETCODE_EXAMPLES, LEETCODE_DOCS)
    long_docs = {
        "bio/photosynthesis.txt": "Photosynthesis: plants turn light energy into chemical energy.",
        "bio/moths.txt": "Moths and phototaxis: why insects fly to lamps at night.",
        "bio/dna.txt": "DNA replication.",
    }
    table = pa.table({"id": list(long_docs), "content": list(long_docs.values())})
    pq.write_table(table, root / "long_documents" / "biology-00000-of-00001.parquet")
    return root
