"""The Redapter training loop: `train(TrainConfig) -> Path` (the folder of the trained model).

One step (Redapter, as the ReasonEmbed paper publishes it):
1. take a global batch drawn from one domain (`data.plan_batches`): batch_size x batch_scale
   queries of that domain (batch_scale 8 = the paper's 8 GPUs), the same for any number of
   processes; each process takes an equal share;
2. embed queries `Instruct: {prompt}\\nQuery: {query}` and their passage groups (1 positive +
   G-1 negatives), L2-normalise (cosine similarity);
3. gather queries and passages from every rank (cross-device negatives) and compute the
   per-sample InfoNCE L(q) at `temperature` over the global batch;
4. loss = mean L(q) for steps < `ri_start_step` or with `loss="infonce"`; otherwise embed the
   reasoning-augmented queries q' under no_grad, L(q') against the same (detached) passages,
   RI = clamp(L(q)/(L(q')+1e-6), 0, 5), weights = RI / ΣRI over the global batch, loss = Σ w·L(q);
5. backward, sum gradients over ranks, clip, AdamW step, warmup + linear decay.
A share larger than `chunk_size` queries (default: the domain's batch_size, one paper GPU's
load) is accumulated in chunks with cached representations (`step.py`): same loss and gradient,
one chunk's activation memory.

Determinism: the batch plan, passage sampling and the torch RNG (dropout) are all seeded from
(seed, step, rank), so a run is repeatable on CPU and a resumed run continues exactly.
Outputs in `output`: the model as a sentence-transformers folder (LoRA merged) with
`reasonembed.json` (how `eval` and `validate` evaluate it: `retrieval.model_settings`),
`train_log.jsonl` (one record per step), `redapter_config.json` (the config, and under
"resolved" what its "auto" values became: device, LoRA, base dtype, autocast), and
`checkpoints/step-N/` (`reasonembed.train.checkpoints`). The model's dtype policy (LoRA, base
dtype, autocast) is `reasonembed.train.model`; with LoRA the merged model keeps the base's dtype.
"""

from __future__ import annotations

import json
import logging
import math
import random
import statistics
import time
from pathlib import Path

import torch

from reasonembed.data.data_source import load_training_rows
from reasonembed.logs import Progress
from reasonembed.retrieval.encoder import Encoder
from reasonembed.retrieval.model_settings import write_model_settings
from reasonembed.train.checkpoints import (
    LOG_FILE,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    trim_log,
)
from reasonembed.train.config import TrainConfig
from reasonembed.train.data import Batch, DomainSettings, check_rows, make_batch, plan_batches
from reasonembed.train.distributed import DistContext, barrier, init_distributed
from reasonembed.train.model import dtype_name, load_encoder, use_bf16
from reasonembed.train.step import StepResult, apply_gradients, forward_backward

logger = logging.getLogger(__name__)

CONFIG_FILE = "redapter_config.json"
AUTHORS_EVAL_LENGTH = 8192  # the authors evaluate their models with 8,192 tokens


# --- set-up --------------------------------------------------------------------------------
def default_eval_max_length(encoder: Encoder) -> int:
    """The authors' evaluation length (8,192 tokens) within the model's position limit, and never
    below the training length."""
    limit = getattr(encoder.model.config, "max_position_embeddings", None) or AUTHORS_EVAL_LENGTH
    return max(encoder.max_length, min(AUTHORS_EVAL_LENGTH, int(limit)))


def seed_step(seed: int, step: int, rank: int) -> None:
    """Seed torch (dropout) for one step: repeatable runs and exact resumes."""
    torch.manual_seed(seed * 1_000_003 + step * 101 + rank)


# --- the step log --------------------------------------------------------------------------
def step_record(
    step: int,
    epoch: int,
    batch: Batch,
    global_queries: int,
    result: StepResult,
    lr: float,
    seconds: float,
) -> dict:
    record = {
        "step": step,
        "epoch": epoch,
        "domain": batch.domain,
        "queries": global_queries,
        "passages": global_queries * batch.group_size,
        "chunks": result.chunks,
        "loss": round(float(result.loss.detach()), 6),
        "infonce": round(result.infonce_mean, 6),
        "lr": lr,
        "seconds": round(seconds, 4),
    }
    if result.ri is not None:
        values = result.ri.float().cpu().tolist()
        record.update(
            ri_min=round(min(values), 4),
            ri_max=round(max(values), 4),
            ri_mean=round(statistics.fmean(values), 4),
            ri_median=round(float(result.ri.float().median()), 4),
        )
    return record


# --- the run -------------------------------------------------------------------------------
def train(config: TrainConfig) -> Path:
    """Train per `config`; returns the output folder (a sentence-transformers model)."""
    config.validate()
    output = Path(config.output)
    device = torch.device(config.device) if config.device else None
    context: DistContext = init_distributed(device)
    if device is None and torch.cuda.is_available():
        device = torch.device("cuda", context.local_rank)
    random.seed(config.seed)
    seed_step(config.seed, 0, context.rank)

    rows = (
        config.rows if config.rows is not None else load_training_rows(config.data, config.domains)
    )
    if config.rows is not None and config.domains:
        rows = [row for row in rows if row.get("domain") in set(config.domains)]
    settings: dict[str, DomainSettings] = check_rows(rows, config.loss, config.group_size)
    steps_per_epoch = len(
        plan_batches(rows, settings, config.batch_scale, context.world_size, config.seed, 0)
    )
    total_steps = config.max_steps or config.epochs * steps_per_epoch

    encoder = load_encoder(config, device)
    device = encoder.device
    model = encoder.model
    trainable = [param for param in model.parameters() if param.requires_grad]
    lr = config.learning_rate or (1e-4 if encoder.has_lora else 2e-5)
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=config.weight_decay)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps
    )
    done = 0
    checkpoint = latest_checkpoint(output) if config.resume else None
    if checkpoint is not None:
        done = load_checkpoint(checkpoint, model, optimizer, scheduler)
        logger.info("resumed from %s: %d of %d steps done", checkpoint, done, total_steps)

    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if use_bf16(config, device)
        else None
    )
    if context.is_main:
        output.mkdir(parents=True, exist_ok=True)
        recorded = config.to_json()
        recorded["resolved"] = {
            "device": str(device),
            "lora": encoder.has_lora,
            "base_dtype": dtype_name(encoder.dtype),
            "bf16_autocast": autocast is not None,
        }
        (output / CONFIG_FILE).write_text(json.dumps(recorded, indent=2))
        trim_log(output / LOG_FILE, done)
    logger.info(
        "training %s on %d rows, %d domain(s), %d steps (%d per epoch), %d process(es); "
        "global batch per domain (queries x passages per query): %s",
        config.loss,
        len(rows),
        len(settings),
        total_steps,
        steps_per_epoch,
        context.world_size,
        ", ".join(
            f"{name} {domain.global_queries(config.batch_scale)}x{domain.group_size}"
            for name, domain in sorted(settings.items())
        ),
    )
    model.train()
    plans: dict[int, list[list[int]]] = {}
    log = (output / LOG_FILE).open("a", encoding="utf-8") if context.is_main else None
    bar = Progress(  # a bar on a terminal, else a line every REASONEMBED_PROGRESS_EVERY_S
        f"redapter {config.loss} steps",
        total_steps,
        initial=done,
        enabled=config.progress and context.is_main,
        unit="step",
        bar_label=f"redapter {config.loss}",
    )
    try:
        for step in range(done, total_steps):
            started = time.perf_counter()
            epoch = step // steps_per_epoch
            if epoch not in plans:
                plans = {
                    epoch: plan_batches(
                        rows, settings, config.batch_scale, context.world_size, config.seed, epoch
                    )
                }
            global_indices = plans[epoch][step % steps_per_epoch]
            share = len(global_indices) // context.world_size
            local = global_indices[context.rank * share : (context.rank + 1) * share]
            use_ri = config.loss == "ri-infonce" and step >= config.ri_start_step
            domain_settings = settings[rows[local[0]].get("domain") or "default"]
            batch = make_batch(
                rows, local, domain_settings, config.seed, step, use_ri, config.query_template
            )
            seed_step(config.seed, step, context.rank)
            result = forward_backward(
                encoder,
                batch,
                config.temperature,
                use_ri,
                chunk_queries=config.chunk_size or domain_settings.batch_size,
                ri_clamp_max=config.ri_clamp_max,
                cross_device=config.cross_device_negatives,
                autocast=autocast,
            )
            current_lr = scheduler.get_last_lr()[0]
            apply_gradients(
                trainable,
                optimizer,
                scheduler,
                config.max_grad_norm,
                average_over=1 if config.cross_device_negatives else context.world_size,
            )
            record = step_record(
                step + 1,
                epoch,
                batch,
                len(global_indices),
                result,
                current_lr,
                time.perf_counter() - started,
            )
            if log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            bar.set_postfix(loss=f"{record['loss']:.4f}", domain=batch.domain)
            bar.update(1)
            finished = step + 1
            if context.is_main and (
                (config.save_steps > 0 and finished % config.save_steps == 0)
                or finished == total_steps
            ):
                save_checkpoint(
                    output, finished, model, optimizer, scheduler, config.save_total_limit
                )
    finally:
        bar.close()
        if log is not None:
            log.close()
    if context.is_main:
        encoder.model.eval()
        eval_max_length = config.eval_max_length or default_eval_max_length(encoder)
        encoder.save(output)
        write_model_settings(
            output,
            base_model=config.model,
            query_template=config.query_template,
            train_max_length=encoder.max_length,
            eval_max_length=eval_max_length,
        )
        logger.info("saved the trained model to %s", output)
    barrier()
    return output
