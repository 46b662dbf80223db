"""`reasonembed validate` end to end: a tiny generated dataset, the eval BRIGHT-layout fixture
(tests/eval/fixtures.py), MiniLM trained a handful of steps.

The dataset is written by the factory's own writer (tests/support/factory_output.py: annotated
rows through the assembly step and `write_output_folder`). Its topics are near the fixture's
(plants, insects, arrays) but no query or document copies a test query or gold document.
"""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from reasonembed.cli import main
from reasonembed.data.output_folder import VALIDATION_FILE, OutputFolder
from reasonembed.errors import UserError
from reasonembed.validation.run import default_output
from tests.eval.fixtures import BIOLOGY_EXAMPLES, write_bright_fixture
from tests.support.factory_output import annotated_row, write_output

# One thread: on a shared 2-core machine, torch's thread pool spinning against other jobs makes
# the tiny training steps several times slower.
torch.set_num_threads(1)

STEPS = 4
# global batch = the rows' batch_size x 0.5: biology 8 -> 4 queries (its 4 rows); leetcode's 64 -> 32
# is more than its 4 rows, so only biology trains (leetcode is still evaluated)
TRAIN_ARGS = ["--steps", str(STEPS), "--batch-scale", "0.5", "--group-size", "2", "--seed", "7"]

# (domain, query, source document, positives, negatives)
TOPICS = [
    (
        "biology",
        "Why do leaves of deciduous trees turn red and yellow in autumn?",
        "In autumn trees stop making chlorophyll, revealing carotenoids and anthocyanins.",
        ["Chlorophyll breaks down in cold weather so yellow carotenoid pigments become visible."],
        ["Fungi decompose dead wood on the forest floor.", "Salmon swim upstream to spawn."],
    ),
    (
        "biology",
        "How do bees find their way back to the hive after foraging?",
        "Honeybees navigate with the sun's position, polarised light and landmarks.",
        ["Bees use a sun compass and the waggle dance to encode direction and distance."],
        ["Earthworms aerate soil by burrowing.", "Sharks sense electric fields."],
    ),
    (
        "biology",
        "What makes some frogs poisonous to predators?",
        "Poison dart frogs store alkaloid toxins taken from the ants and mites they eat.",
        ["Dietary alkaloids are sequestered in the skin glands of poison frogs."],
        ["Cacti store water in thick stems.", "Penguins huddle to keep warm."],
    ),
    (
        "biology",
        "Why do muscles get sore a day after hard exercise?",
        "Delayed onset muscle soreness follows microscopic damage to muscle fibres.",
        ["Eccentric contractions cause small tears in fibres and inflammation the next day."],
        ["Bird feathers are made of keratin.", "Ferns reproduce with spores."],
    ),
    (
        "leetcode",
        "Given a list of meeting intervals, merge all the overlapping ones.",
        "Sort intervals by start time, then extend the last merged interval or append a new one.",
        ["Sorting by start and sweeping once merges overlapping ranges in n log n time."],
        ["A trie stores strings by shared prefixes.", "Union-find tracks connected components."],
    ),
    (
        "leetcode",
        "Return the length of the longest substring without repeating characters.",
        "A sliding window with a hash map of last positions finds the longest unique run.",
        ["Move the left edge past the previous occurrence of a repeated character."],
        ["Dijkstra's algorithm finds shortest paths.", "A heap supports top-k queries."],
    ),
    (
        "leetcode",
        "Count the number of islands in a grid of land and water cells.",
        "Flood fill each unvisited land cell with depth-first search and count the fills.",
        ["Each DFS from unvisited land marks one connected island."],
        ["Kadane's algorithm finds a maximum subarray.", "Bit masks enumerate subsets."],
    ),
    (
        "leetcode",
        "Climb a staircase of n steps taking one or two at a time: how many ways?",
        "The number of ways follows the Fibonacci recurrence ways(n) = ways(n-1) + ways(n-2).",
        ["Dynamic programming over steps adds the counts of the two previous steps."],
        ["Quickselect finds the k-th element.", "A deque gives sliding window maxima."],
    ),
]


def annotated(index: int, domain: str, query: str, source: str, pos: list, neg: list) -> dict:
    """An annotated query row (the annotation step's output) with these texts and labels."""
    row = annotated_row(domain, index, 1, scores=[5] * len(pos) + [1] * len(neg))
    row.update(
        query=query,
        source_text=source,
        reasoning_query=f"{query} The answer needs the underlying mechanism.",
    )
    for candidate, text in zip(row["candidates"], pos + neg, strict=True):
        candidate["text"] = text
    return row


def write_generated(folder, topics=TOPICS):
    """A `reasonembed generate` output folder, written by the factory's own writer."""
    rows = [annotated(i, *topic) for i, topic in enumerate(topics)]
    domains = {row["domain"]: 0 for row in rows}
    return write_output(folder, domains=domains, rows=rows, raw_shards=1)


@pytest.fixture(scope="module")
def bright(tmp_path_factory):
    return write_bright_fixture(tmp_path_factory.mktemp("bright"))


@pytest.fixture(scope="module")
def validated(bright, tmp_path_factory):
    """One validate run on the generated folder, models kept; (data folder, models folder)."""
    root = tmp_path_factory.mktemp("validate")
    data = write_generated(root / "data")
    models = root / "models"
    args = ["validate", "--data", str(data), "--tasks", "biology,leetcode"]
    code = main([*args, "--bright", str(bright), *TRAIN_ARGS, "--keep-models", str(models)])
    assert code == 0
    return data, models


def result_of(folder):
    return json.loads((folder / VALIDATION_FILE).read_text())


def test_four_rows_scored_and_written(validated, bright, tmp_path):
    data, models = validated
    result = result_of(OutputFolder(data).validation_dir)
    rows = {row["model"]: row for row in result["rows"]}
    assert list(rows) == ["base", "infonce", "ri-infonce", "doc-as-positive"]
    for row in rows.values():
        assert 0 <= row["mean nDCG@10"] <= 100
        assert row["mean nDCG@10"] == pytest.approx(
            (row["biology"] + row["leetcode"]) / 2, abs=0.01
        )
        assert "contamination" not in row
    assert result["control"] == {
        "available": True,
        "reason": "8 queries, source document as the only positive",
        "rows": 8,
    }
    assert result["training"]["ri-infonce"]["ri_start_step"] == 1  # min(100, steps // 3)
    for name in ("infonce", "ri-infonce", "doc-as-positive"):
        assert result["training"][name]["path"] == str(models / name)  # the row's own model
        log = (models / name / "train_log.jsonl").read_text().splitlines()
        assert len(log) == STEPS
    ri_log = [json.loads(line) for line in (models / "ri-infonce" / "train_log.jsonl").open()]
    assert "ri_mean" not in ri_log[0] and "ri_mean" in ri_log[-1]

    # the base row is what `reasonembed eval` reports for the untouched model
    out = tmp_path / "eval"
    common = ["--tasks", "biology,leetcode", "--bright", str(bright), "--output", str(out)]
    assert main(["eval", "--model", "minilm", "--instructions", "flagembedding", *common]) == 0
    alone = json.loads((out / "results.json").read_text())
    assert (
        result["evaluation"]["base"]["biology"]["ndcg@10"] == alone["tasks"]["biology"]["ndcg@10"]
    )
    assert rows["base"]["mean nDCG@10"] == round(100 * alone["mean"]["ndcg@10"], 2)

    # a kept model folder gets validate's numbers from `reasonembed eval` with no options: it
    # records its training instructions and evaluation length (reasonembed.json)
    assert result["setup"]["instructions"] == "flagembedding"
    assert result["setup"]["eval_max_length"] == 512  # MiniLM's position limit
    for name in ("infonce", "ri-infonce"):
        trained = tmp_path / f"eval-{name}"
        args = ["eval", "--model", str(models / name), "--tasks", "biology,leetcode"]
        assert main([*args, "--bright", str(bright), "--output", str(trained)]) == 0
        evaluated = json.loads((trained / "results.json").read_text())
        assert evaluated["instructions"] == "flagembedding" and evaluated["max_length"] == 512
        assert evaluated["settings_from"] == str(models / name / "reasonembed.json")
        for task in ("biology", "leetcode"):
            assert (
                evaluated["tasks"][task]["ndcg@10"] == result["evaluation"][name][task]["ndcg@10"]
            )

    # the doc-as-positive model was trained on source documents: its positives were the sources
    control_config = json.loads((models / "doc-as-positive" / "redapter_config.json").read_text())
    assert control_config["rows_given"] and control_config["loss"] == "infonce"

    markdown = (OutputFolder(data).validation_dir / "validation.md").read_text()
    assert "| model | positives | loss | steps | mean nDCG@10 | biology | leetcode |" in markdown
    assert "| doc-as-positive | source document | infonce | 4 |" in markdown
    with Image.open(OutputFolder(data).validation_dir / "ndcg.png") as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 400


def test_training_is_deterministic(validated, bright):
    """Re-training one row with the same seed gives bit-identical weights and the same scores."""
    from reasonembed.data.data_source import load_training_rows
    from reasonembed.eval.task import bright_task
    from reasonembed.retrieval.model_settings import resolve_eval_settings
    from reasonembed.train import TrainConfig, train
    from reasonembed.validation.run import evaluate_row

    data, models = validated
    again = train(
        TrainConfig(
            model="minilm",
            output=models.parent / "again",
            rows=load_training_rows(str(data)),
            loss="infonce",
            max_steps=STEPS,
            seed=7,
            batch_scale=0.5,
            group_size=2,
            ri_start_step=1,
            save_steps=0,
            resume=False,
            progress=False,
        )
    )
    from safetensors.torch import load_file

    first = load_file(models / "infonce" / "model.safetensors")
    second = load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    base = load_file(models / "ri-infonce" / "model.safetensors")
    assert any(not torch.equal(first[key], base[key]) for key in first)  # the losses differ

    task_data = [bright_task(task, str(bright)) for task in ("biology", "leetcode")]

    summaries, _ = evaluate_row(str(again), resolve_eval_settings(str(again)), task_data)
    reported = result_of(OutputFolder(data).validation_dir)["evaluation"]["infonce"]
    assert {t: s["ndcg@10"] for t, s in summaries.items()} == {
        t: s["ndcg@10"] for t, s in reported.items()
    }


def test_publish_dry_run_card_shows_the_table(validated, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, _ = validated
    tree = tmp_path / "tree"
    args = ["publish", str(data), "--repo-id", "org/remixer-test", "--version", "1.0.0"]
    assert main([*args, "--dry-run", "--dry-run-dir", str(tree)]) == 0
    card = (tree / "README.md").read_text()
    rows = result_of(OutputFolder(data).validation_dir)["rows"]
    assert "## Validation" in card
    assert "| model | positives | loss | steps | mean nDCG@10 | biology | leetcode |" in card
    for row in rows:
        assert (
            f"| {row['model']} | {row['positives']} | {row['loss']} | {row['steps']} | {row['mean nDCG@10']} |"
            in card
        )
    assert "![validation/ndcg.png](validation/ndcg.png)" in card
    assert (tree / "validation" / "ndcg.png").is_file()
    assert (tree / "validation" / "validation.md").is_file()


def test_contamination_refused_then_allowed_and_reported(bright, tmp_path):
    """A copied test query makes validate refuse (exit 3, nothing written); allowed, every row
    says so. The data is a jsonl file without a raw config: the control is unavailable."""
    leaked = tmp_path / "leaked.jsonl"
    rows = [
        {
            "prompt": "Given a biology post, retrieve relevant passages",
            "query": query,
            "reasoning_query": f"{query} Think about the mechanism.",
            "pos": pos,
            "neg": neg,
        }
        for domain, query, _, pos, neg in TOPICS
        if domain == "biology"
    ]
    rows[0]["query"] = BIOLOGY_EXAMPLES[1]["query"]  # a BRIGHT test query, verbatim
    leaked.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    args = ["validate", "--data", str(leaked), "--tasks", "biology", "--bright", str(bright)]
    assert main([*args, *TRAIN_ARGS]) == 1  # a file has no default output folder
    with pytest.raises(UserError, match="pass --output"):
        default_output(str(leaked), None)
    assert main([*args, *TRAIN_ARGS, "--output", str(out)]) == 3
    assert not out.exists()

    assert (
        main([*args, *TRAIN_ARGS, "--steps", "1", "--output", str(out), "--allow-contamination"])
        == 0
    )
    result = result_of(out)
    assert result["contamination"]["found"] and result["contamination"]["allowed"]
    assert result["contamination"]["tasks"][0]["test_queries_matched"] == 1
    assert all(row["contamination"] == "FOUND (allowed)" for row in result["rows"])
    control = result["rows"][-1]
    assert control["model"] == "doc-as-positive" and "mean nDCG@10" not in control
    assert "no raw config" in control["note"]
    assert [row["model"] for row in result["rows"] if "mean nDCG@10" in row] == [
        "base",
        "infonce",
        "ri-infonce",
    ]
    assert "Contamination found and allowed" in (out / "validation.md").read_text()


def test_hub_dataset_brings_its_raw_config(hub_server, tmp_path):
    """A Hub release at a tag: validate downloads the reasonembed and raw configs, so the
    doc-as-positive control is available."""
    from huggingface_hub import HfApi

    from reasonembed.data.data_source import load_training_rows
    from reasonembed.validation.control import doc_as_positive_rows
    from reasonembed.validation.run import resolve_data

    api = HfApi(endpoint=hub_server.url, token=hub_server.token)
    repo = "lab/remixer-validate"
    api.create_repo(repo, repo_type="dataset")
    api.upload_folder(
        folder_path=str(write_generated(tmp_path / "out")), repo_id=repo, repo_type="dataset"
    )
    api.create_tag(repo, tag="v1.0.0", repo_type="dataset")

    folder = resolve_data(f"{repo}@v1.0.0")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")) == [
        "raw/train-00000-of-00001.parquet"
    ]
    rows = load_training_rows(str(folder))
    control = doc_as_positive_rows(rows, folder)
    assert control.available and len(control.rows) == len(rows) == len(TOPICS)
    by_query = {topic[1]: topic[2] for topic in TOPICS}
    assert all(row["pos"] == [by_query[row["query"]]] for row in control.rows)
    assert [row["neg"] for row in control.rows] == [row["neg"] for row in rows]
