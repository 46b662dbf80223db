"""Checkpoints of a Redapter run, for exact resumes.

`save_checkpoint` writes `{output}/checkpoints/step-N/` (trainable weights, optimizer,
scheduler, steps done) into a hidden `.partial-step-N/` sibling and renames it into place only
when whole, then keeps the newest `limit`: an older checkpoint is removed only after the new one
is complete. A full disk during the write is a one-line `DiskFull` naming the checkpoint and its
size; a full disk, Ctrl-C or SIGTERM removes the partial folder and leaves the previous
checkpoint intact. `latest_checkpoint` finds the newest complete one and `load_checkpoint`
restores it. `trim_log` drops the step-log records of steps after it (they are redone).
`train_faults(output)` wraps a whole run for the `train` command: SIGTERM handled like Ctrl-C,
and an interruption re-raised with one line saying the step reached and the resume point.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from reasonembed.data.diskspace import reporting_disk_full
from reasonembed.errors import UserError
from reasonembed.interrupts import sigterm_as_interrupt, with_message

CHECKPOINTS = "checkpoints"
PARTIAL_PREFIX = ".partial-"
REPLACED_PREFIX = f"{PARTIAL_PREFIX}replaced-"
LOG_FILE = "train_log.jsonl"


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


def tensor_bytes(state) -> int:
    """Bytes of the tensors in a (nested) state dict: about the size torch.save writes."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(tensor_bytes(value) for value in state.values())
    if isinstance(state, list | tuple):
        return sum(tensor_bytes(value) for value in state)
    return 0


def remove_partials(folder: Path) -> None:
    """Remove checkpoint folders a killed run left half-written (never a complete one: a copy
    moved aside to be replaced goes back to its place when the replacement never landed)."""
    for partial in folder.glob(f"{PARTIAL_PREFIX}*") if folder.is_dir() else []:
        final = folder / partial.name.removeprefix(REPLACED_PREFIX)
        if partial.name.startswith(REPLACED_PREFIX) and not final.exists():
            os.replace(partial, final)
        else:
            shutil.rmtree(partial, ignore_errors=True)


def save_checkpoint(output: Path, step: int, model, optimizer, scheduler, limit: int) -> Path:
    """Checkpoint trainable weights, optimizer and scheduler at `step` (steps done): staged,
    renamed into place when whole, then the newest `limit` kept (module docstring)."""
    folder = output / CHECKPOINTS
    final = folder / f"step-{step:08d}"
    partial = folder / f"{PARTIAL_PREFIX}{final.name}"
    replaced = folder / f"{REPLACED_PREFIX}{final.name}"
    remove_partials(folder)
    states = {
        "trainable.pt": trainable_state(model),
        "optimizer.pt": optimizer.state_dict(),
        "scheduler.pt": scheduler.state_dict(),
    }
    with reporting_disk_full(final, lambda: tensor_bytes(states)):
        try:
            partial.mkdir(parents=True)
            for name, state in states.items():
                # a file object, so a full disk surfaces as an OSError (in the error's context)
                with open(partial / name, "wb") as handle:
                    torch.save(state, handle)
            (partial / "state.json").write_text(json.dumps({"step": step}))
            if final.exists():  # the same step saved again: move the old copy aside first
                os.replace(final, replaced)
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            if replaced.exists() and not final.exists():
                os.replace(replaced, final)
            raise
    shutil.rmtree(replaced, ignore_errors=True)
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
    return checkpoint_step(path)


def trim_log(path: Path, done: int) -> None:
    """Keep the log records of steps 1..done (steps logged after the checkpoint are redone)."""
    if not path.exists():
        return
    kept = [
        line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= done
    ]
    path.write_text("".join(line + "\n" for line in kept))


def checkpoint_step(path: Path | None) -> int:
    """The steps done in a complete checkpoint (0 for None)."""
    return int(json.loads((path / "state.json").read_text())["step"]) if path else 0


def logged_step(output: Path) -> int:
    """The last step recorded in `output`'s step log (0 when there is none)."""
    log = output / LOG_FILE
    lines = log.read_text().splitlines() if log.exists() else []
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue  # a record cut by the interruption
    return 0


def interruption_message(output: Path) -> str:
    """One line: the step a run stopped at and where `train` with this output resumes."""
    reached = logged_step(output)
    saved = checkpoint_step(latest_checkpoint(output))
    resume = (
        f"resumes from checkpoint step {saved}"
        if saved
        else "starts from step 0 (no checkpoint was written yet)"
    )
    return (
        f"training was interrupted at step {reached}; running the same `reasonembed train` "
        f"command again (same --output {output}) {resume}"
    )


@contextmanager
def train_faults(output: str | Path) -> Iterator[None]:
    """Around a `train` run: SIGTERM acts as Ctrl-C, and either ends with
    `interruption_message` (the checkpoints are left as they were; a partial one is removed);
    a full disk anywhere else under `output` (step log, final model) is a one-line DiskFull."""
    with sigterm_as_interrupt(), reporting_disk_full(output):
        try:
            yield
        except KeyboardInterrupt as stop:
            raise with_message(stop, interruption_message(Path(output))) from None
