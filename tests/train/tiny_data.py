"""A tiny reasonembed-format dataset written by the tests: 16 topics, one query each."""

from __future__ import annotations

import json
from pathlib import Path

TOPICS = {
    "photosynthesis": "Chlorophyll in leaves captures sunlight to turn carbon dioxide and water into glucose.",
    "volcanoes": "Magma rises through the crust and erupts as lava, ash and gas from a vent.",
    "recursion": "A function calls itself on a smaller input until it reaches a base case.",
    "inflation": "A general rise in prices reduces the purchasing power of money over time.",
    "tides": "The pull of the moon's gravity on the oceans makes sea level rise and fall twice a day.",
    "vaccines": "A weakened pathogen trains the immune system to produce antibodies in advance.",
    "binary search": "Repeatedly halve a sorted array, comparing the middle element with the target.",
    "supply and demand": "Prices settle where the quantity buyers want equals what sellers offer.",
    "earthquakes": "Stress on a fault is released suddenly, sending seismic waves through rock.",
    "mitosis": "A cell copies its chromosomes and divides into two identical daughter cells.",
    "hash tables": "A hash function maps keys to buckets, giving constant average lookup time.",
    "interest rates": "Central banks raise borrowing costs to cool spending and slow price growth.",
    "glaciers": "Compacted snow becomes ice that flows downhill and carves U-shaped valleys.",
    "neurons": "Nerve cells pass electrical signals along axons and across synapses.",
    "merge sort": "Split a list in halves, sort each half and merge them in linear time.",
    "unemployment": "People who want work but cannot find a job; the rate rises in recessions.",
}


def tiny_rows(domain: str = "science", group: int = 4, batch: int = 4) -> list[dict]:
    names = list(TOPICS)
    rows = []
    for i, name in enumerate(names):
        rows.append(
            {
                "prompt": "Given a question, retrieve the passage that explains it.",
                "query": f"Why does {name} matter and how does it work?",
                "reasoning_query": f"The question is about {name}; a useful passage explains "
                f"the mechanism behind {name} step by step.",
                "pos": [TOPICS[name]],
                "neg": [TOPICS[names[(i + k) % len(names)]] for k in (1, 3, 5, 7)],
                "train_group_size": group,
                "batch_size": batch,
            }
        )
    return rows


def write_tiny_dataset(folder: Path, domains=("science",), **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for domain in domains:
        lines = "".join(json.dumps(row) + "\n" for row in tiny_rows(domain, **kwargs))
        (folder / f"{domain}-formatted.jsonl").write_text(lines, encoding="utf-8")
    return folder
