"""A small BEIR-format set written by the tests: 30 documents (6 topics x 5), 6 scored queries
with graded qrels (2: answers it, 1: on topic, 0: judged off topic), one judged query with only
0 grades (skipped) and one query the split does not judge. Some documents have titles.

`write_beir(root, name, documents, queries, qrels)` writes any content in the BEIR layout;
`write_as_bright(root, task, ...)` writes the same content (binary grades) in BRIGHT's layout.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.eval.fixtures import write_task

TOPICS = {
    "tides": [
        "The Moon's gravity pulls the oceans and raises two tidal bulges on Earth.",
        "Spring tides happen when the Sun and Moon line up at new and full moon.",
        "Tide tables list high and low water times for harbours.",
        "Coastal marshes flood twice a day with the rising tide.",
        "Sea level rise is measured by satellites and tide gauges.",
    ],
    "vaccines": [
        "Vaccines train the immune system by presenting a harmless antigen.",
        "Memory B cells remember an antigen and make antibodies quickly on reinfection.",
        "Herd immunity protects people who cannot be vaccinated.",
        "Cold chains keep vaccines refrigerated from factory to clinic.",
        "Edward Jenner used cowpox to protect against smallpox.",
    ],
    "sorting": [
        "Merge sort splits a list in halves, sorts each and merges them in n log n time.",
        "Quicksort partitions around a pivot and recurses on both sides.",
        "A stable sort keeps equal keys in their original order.",
        "Heapsort builds a binary heap and extracts the maximum repeatedly.",
        "Counting sort tallies small integer keys without comparisons.",
    ],
    "volcanoes": [
        "Magma rises through the crust and erupts as lava from volcanoes.",
        "Subduction zones melt oceanic plates and feed explosive volcanoes.",
        "Volcanic ash clouds ground aircraft because ash melts in jet engines.",
        "Hot spots like Hawaii build shield volcanoes far from plate edges.",
        "Geothermal plants use heat from hot rocks underground.",
    ],
    "bread": [
        "Yeast ferments sugar in dough and releases carbon dioxide that makes bread rise.",
        "Kneading develops gluten, a protein network that traps gas in dough.",
        "Sourdough uses wild yeast and lactic acid bacteria from a starter.",
        "Ovens brown the crust through the Maillard reaction.",
        "Flour milling separates bran and germ from the endosperm.",
    ],
    "orbits": [
        "Kepler's laws say planets move on ellipses with the Sun at one focus.",
        "A satellite in orbit is falling around Earth while moving sideways fast.",
        "Geostationary satellites circle once a day above the equator.",
        "Escape velocity is the speed needed to leave a body's gravity without propulsion.",
        "Space debris threatens satellites in low Earth orbit.",
    ],
}
QUERIES = {
    "q-tides": "Why does the ocean have high and low tides each day?",
    "q-vaccines": "How does a vaccine make the body immune to a disease?",
    "q-sorting": "Which sorting algorithm divides the list in half and merges sorted halves?",
    "q-volcanoes": "What makes magma come up and erupt from a volcano?",
    "q-bread": "Why does dough rise when you bake bread with yeast?",
    "q-orbits": "Why doesn't a satellite fall down to Earth?",
    "q-zero": "What is the capital of the Moon?",  # judged, only 0 grades: skipped
    "q-unjudged": "A query of another split.",
}


def doc_id(topic: str, index: int) -> str:
    return f"{topic}-{index}"


def documents() -> dict[str, tuple[str, str]]:
    """{doc id: (title, text)}; every third document has a title."""
    return {
        doc_id(topic, i): (f"{topic.title()} note" if i % 3 == 0 else "", text)
        for topic, texts in TOPICS.items()
        for i, text in enumerate(texts)
    }


def graded_qrels() -> dict[str, dict[str, int]]:
    """Per topic query: doc 0 answers it (2), docs 1 and 3 are on topic (1), one document of
    the next topic is judged off topic (0); q-zero has only 0 grades."""
    topics = list(TOPICS)
    qrels = {}
    for n, topic in enumerate(topics):
        judged = {doc_id(topic, 0): 2, doc_id(topic, 1): 1, doc_id(topic, 3): 1}
        judged[doc_id(topics[(n + 1) % len(topics)], 2)] = 0
        qrels[f"q-{topic}"] = judged
    qrels["q-zero"] = {doc_id("orbits", 4): 0, doc_id("tides", 4): 0}
    return qrels


def write_beir(
    root: Path,
    name: str,
    docs: dict[str, tuple[str, str]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    split: str = "test",
) -> Path:
    """A BEIR folder `root/name`."""
    folder = root / name
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for key, (title, text) in docs.items():
            handle.write(json.dumps({"_id": key, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for key, text in queries.items():
            handle.write(json.dumps({"_id": key, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{grade}" for q, judged in qrels.items() for d, grade in judged.items()]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_graded_set(root: Path, name: str = "mysci") -> Path:
    return write_beir(root, name, documents(), QUERIES, graded_qrels())


def write_as_bright(
    root: Path, task: str, docs: dict[str, str], queries: dict[str, str], gold: dict[str, list]
) -> Path:
    """The same content in BRIGHT's layout: task `task`, no excluded ids."""
    examples = [
        {"id": q, "query": text, "gold_ids": gold[q], "gold_ids_long": ["N/A"], "excluded_ids": []}
        for q, text in queries.items()
    ]
    write_task(root, task, examples, docs)
    return root
