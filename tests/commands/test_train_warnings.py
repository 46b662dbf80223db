"""`reasonembed train` warns once, at the start, when ri-infonce stops before RI weighting starts
(--max-steps <= --ri-start-step: the run is plain InfoNCE)."""

from __future__ import annotations

import json

import pytest

from reasonembed.cli import main
from reasonembed.commands.train import warn_if_ri_cannot_start
from reasonembed.train.config import TrainConfig

MESSAGE = "RI weighting cannot start within --max-steps"


def _data(tmp_path):
    rows = [
        {
            "prompt": "Retrieve biology passages that help answer the post.",
            "query": f"Why does a cell divide when nutrients {word}?",
            "reasoning_query": f"Cell division signals, nutrient sensing, {word} conditions.",
            "pos": [f"Nutrient sensing pathways trigger the cell cycle when food {word}."],
            "neg": [f"Plate tectonics moves continents {word}.", "Stars fuse hydrogen."],
            "train_group_size": 2,
            "batch_size": 2,
        }
        for word in ("abound", "run short", "return", "vanish")
    ]
    path = tmp_path / "biology-formatted.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_run_too_short_for_ri_warns_once_at_the_start(tmp_path, caplog):
    argv = ["train", "--data", str(_data(tmp_path)), "--output", str(tmp_path / "model")]
    argv += ["--model", "minilm", "--batch-scale", "1", "--max-steps", "2", "--no-resume"]
    assert main(argv) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    ours = [message for message in warnings if MESSAGE in message]
    assert ours == [
        "RI weighting cannot start within --max-steps 2: it starts at step 100 (--ri-start-step),"
        " so this run is plain InfoNCE; lower --ri-start-step or raise --max-steps"
    ]
    first = next(r for r in caplog.records if r.name.startswith("reasonembed"))
    assert MESSAGE in first.getMessage()  # before anything the training itself logs
    assert (tmp_path / "model" / "reasonembed.json").exists()


@pytest.mark.parametrize(
    "settings, warned",
    [
        ({"max_steps": 100, "ri_start_step": 100}, True),  # steps 0..99: none reaches 100
        ({"max_steps": 101, "ri_start_step": 100}, False),
        ({"max_steps": 10, "ri_start_step": 0}, False),
        ({"max_steps": 10, "loss": "infonce"}, False),
        ({"max_steps": None}, False),  # the whole epoch plan: decided by the data
    ],
)
def test_the_warning_only_where_ri_cannot_start(settings, warned, caplog):
    assert warn_if_ri_cannot_start(TrainConfig(data="d", **settings)) is warned
    assert (MESSAGE in caplog.text) is warned
