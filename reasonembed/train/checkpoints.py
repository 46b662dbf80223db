"""Checkpoints of a Redapter run, for exact resumes.

`save_checkpoint` writes `{output}/checkpoints/step-N/` atomically (trainable weights, optimizer,
scheduler, steps done) and keeps the newest `limit`; `latest_checkpoint` finds the newest
complete one and `load_checkpoint` restores it. `trim_log` drops the step-log records of steps
after it (they are redone).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from reasonembed.errors import UserError

CHECKPOINTS = "checkpoints"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: param.detach().cpu().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def latest_checkpoint(output: Path) -> Path | None:
    folder = output / CHECKPOINTS
    found = sorted(folder.glob("step-*")) if folder.is_dir() else []
    found = [path for path in found if (path / "state.json").exists()]
    return found[-1] if found else None


def save_checkpoint(output: Path, step: int, model, optimizer, scheduler, limit: int) -> Path:
    """Atomic checkpoint of trainable weights, optimizer and scheduler at `step` (steps done)."""
    folder = output / CHECKPOINTS
    final = folder / f"step-{step:08d}"
    partial = folder / f".partial-step-{step:08d}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(trainable_state(model), partial / "trainable.pt")
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    torch.save(scheduler.state_dict(), partial / "scheduler.pt")
    (partial / "state.json").write_text(json.dumps({"step": step}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    for old in sorted(folder.glob("step-*"))[:-limit] if limit > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model, optimizer, scheduler) -> int:
    """Restore a checkpoint; the number of steps already done."""
    saved = torch.load(path / "trainable.pt", map_location="cpu")
    params = dict(model.named_parameters())
    unknown = set(saved) - set(params)
    if unknown:
        raise UserError(
            f"checkpoint {path} does not match this model ({len(unknown)} unknown parameters, "
            f"e.g. {sorted(unknown)[0]}); use a fresh --output or the same model and LoRA settings"
        )
    with torch.no_grad():
        for name, value in saved.items():
            params[name].copy_(value.to(params[name].device))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu"))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", map_location="cpu"))
    return int(json.loads((path / "state.json").read_text())["step"])


def trim_log(path: Path, done: int) -> None:
    """Keep the log records of steps 1..done (steps logged after the checkpoint are redone)."""
    if not path.exists():
        return
    kept = [
        line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= done
    ]
    path.write_text("".join(line + "\n" for line in kept))
