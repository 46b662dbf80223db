"""`TrainConfig`: everything a Redapter run depends on, and its checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE
from reasonembed.train.data import PAPER_DEVICES
from reasonembed.train.losses import DEFAULT_RI_CLAMP_MAX, DEFAULT_TEMPERATURE

LOSSES = ("ri-infonce", "infonce")
BASE_DTYPES = ("auto", "float32", "bfloat16")


@dataclass
class TrainConfig:
    """Everything a Redapter run depends on. Give `data` (a source for `load_training_rows`) or
    `rows` (already-built rows, e.g. doc-as-positive rows from `validate`).

    `lora`: "auto" (LoRA for decoder backbones, full fine-tuning otherwise), "on" or "off".
    `learning_rate` None: 1e-4 with LoRA (paper), 2e-5 for full fine-tuning.
    `group_size` None: each row's `train_group_size`, else 16.
    `batch_scale`: a domain's global batch is its rows' `batch_size` (queries per device in the
        paper, else 8) x batch_scale queries, whatever the number of processes; 8 = the paper's
        8 GPUs. It scales every domain alike (leetcode 64 and pony 2 keep their ratio).
    `chunk_size` None: the domain's batch_size; queries per forward chunk of a process's share
        (accumulation with cached representations): memory only, the loss is the same.
    `eval_max_length` None: min(8192, the model's position limit), never below the training
        length; recorded in the saved folder's reasonembed.json for `eval` and `validate`.
    `max_steps` None: `epochs` passes over the batch plan.
    `bf16`: bf16 autocast of the step's matmuls: "auto" (on CUDA devices that support it), "on"
        or "off".
    `base_dtype`: the dtype the (frozen, with LoRA) base weights are held in: "auto" (bfloat16
        for a LoRA run on a CUDA device that supports it, float32 otherwise), "float32" or
        "bfloat16" (LoRA only: full fine-tuning keeps float32 master weights). Policy and
        reasons: `reasonembed.train.model`.
    """

    model: str = "minilm"
    output: str | Path = "redapter-model"
    data: str | None = None
    rows: list[dict] | None = field(default=None, repr=False)
    domains: list[str] | None = None
    loss: str = "ri-infonce"
    temperature: float = DEFAULT_TEMPERATURE
    ri_start_step: int = 100
    ri_clamp_max: float = DEFAULT_RI_CLAMP_MAX
    learning_rate: float | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    epochs: int = 1
    max_steps: int | None = None
    group_size: int | None = None
    batch_scale: float = float(PAPER_DEVICES)
    chunk_size: int | None = None
    max_length: int | None = None
    eval_max_length: int | None = None
    pooling: str = "auto"
    query_template: str = DEFAULT_QUERY_TEMPLATE
    lora: str = "auto"
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    lora_target_modules: str | list[str] = "all-linear"
    gradient_checkpointing: bool = False
    bf16: str = "auto"
    base_dtype: str = "auto"
    cross_device_negatives: bool = True
    seed: int = 42
    save_steps: int = 500
    save_total_limit: int = 2
    resume: bool = True
    device: str | None = None
    progress: bool = True

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise UserError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if (self.data is None) == (self.rows is None):
            raise UserError("give exactly one of TrainConfig.data (a source) or TrainConfig.rows")
        if self.lora not in ("auto", "on", "off"):
            raise UserError(f"lora must be auto, on or off, got {self.lora!r}")
        if self.bf16 not in ("auto", "on", "off"):
            raise UserError(f"bf16 must be auto, on or off, got {self.bf16!r}")
        if self.base_dtype not in BASE_DTYPES:
            raise UserError(f"base_dtype must be one of {BASE_DTYPES}, got {self.base_dtype!r}")
        if self.temperature <= 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError(f"max_steps must be >= 1, got {self.max_steps}")
        if not self.batch_scale > 0:
            raise UserError(f"batch_scale must be > 0, got {self.batch_scale}")
        for name in ("chunk_size", "group_size", "max_length", "eval_max_length"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name} must be >= 1, got {value}")

    def to_json(self) -> dict:
        values = dataclasses.asdict(self)
        values.pop("rows")
        values["output"] = str(self.output)
        values["rows_given"] = self.rows is not None
        return values
