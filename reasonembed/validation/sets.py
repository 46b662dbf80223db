"""What a validation evaluates on: BRIGHT tasks (`--tasks`) or the user's BEIR-format sets
(`--eval-set beir:PATH[=DOMAIN],...`), as `EvalTask`s, and the setup fields that describe them.

A BEIR set's query instruction: `--instruction`, else the training prompt of its domain (`=DOMAIN`,
else the data's only domain when it has one), else none (`reasonembed.eval.beir.load_beir_sets`).
"""

from __future__ import annotations

from reasonembed.bright import data as bright_data
from reasonembed.errors import UserError


def load_eval_tasks(config, rows: list[dict]) -> tuple[list, dict]:
    """(tasks, setup fields) of a `ValidationConfig`; `rows` are the training rows."""
    from reasonembed.eval.beir import load_beir_sets
    from reasonembed.eval.task import bright_task

    if bool(config.eval_set) == bool(config.tasks):
        raise UserError("give --tasks (BRIGHT tasks) or --eval-set (your BEIR-format sets), one")
    if config.eval_set:
        domains = sorted({row["domain"] for row in rows})
        tasks, described = load_beir_sets(
            config.eval_set,
            config.split,
            config.instruction,
            domains[0] if len(domains) == 1 else None,
            lambda: rows,
        )
        return tasks, {"complete": False, "bright": None, "revision": None, "beir": described}
    names = bright_data.parse_tasks(config.tasks)
    tasks = [bright_task(name, config.bright, config.revision) for name in names]
    return tasks, {
        "complete": set(names) == set(bright_data.BRIGHT_TASKS),
        "bright": config.bright,
        "revision": config.revision if config.bright == "hub" else None,
    }
