"""`reasonembed train`: Redapter training on a reasonembed-format dataset
(`reasonembed.train.loop.train`).

    reasonembed train --data DIR|FILE|REPO[@REVISION] --model NAME_OR_PATH --output OUT \\
        --loss ri-infonce|infonce [--batch-scale 8] [--max-steps N] [...]

Multi-process (cross-device negatives): `torchrun --nproc_per_node N -m reasonembed.cli train ...`
(gloo on CPU, NCCL on GPU). The global batch does not depend on N (see `--batch-scale`).
"""

from __future__ import annotations

import argparse
import logging
import os

from reasonembed.train.checkpoints import train_faults
from reasonembed.train.config import BASE_DTYPES, LOSSES, TrainConfig
from reasonembed.train.loop import train

PAPER_RECIPE = """\
global batch: each domain's rows carry `batch_size` (queries per GPU in the paper's 8-GPU run) and
`train_group_size` (passages per query). One step sees batch_size x --batch-scale queries of one
domain, however many processes run: with the default scale 8, 8 x 8 queries x 16 passages = 1,024
passages for StackExchange and math, 8 x 64 x 2 for leetcode, 8 x 2 x 64 for pony. Each process
takes an equal share and accumulates it in chunks of --chunk-size queries with cached
representations (GradCache): the loss and gradient are those of the whole global batch, the
memory that of one chunk.

the paper's recipe (ReasonEmbed, Qwen3-8B): every default is the paper's except --model
(minilm, so that training runs offline):
  reasonembed train --data DATA --output OUT --model hanhainebula/qwen3-8b-ft-msmarco
which gives: LoRA r=32, alpha=64, dropout 0.1 on all linear layers (--lora auto, a decoder
model), lr 1e-4, warmup 0.1, 1 epoch, last-token pooling, max length 512, temperature 0.02,
queries `Instruct: {prompt}\\nQuery: {query}`, RI-weighted InfoNCE after 100 plain steps, the
8-GPU global batch (--batch-scale 8), bf16 on GPUs that support it. Add --gradient-checkpointing
to fit a chunk of 8 queries x 16 passages on one GPU.

memory: with LoRA on a GPU with bf16, --base-dtype auto holds the frozen base in bfloat16
(Qwen3-8B: 15.3 GB of weights instead of 30.6 GB in float32; the adapters stay float32);
--base-dtype float32 keeps a float32 base. Full fine-tuning always keeps float32 master
weights. What auto resolved to is recorded in OUT/redapter_config.json ("resolved").

the saved folder is a sentence-transformers model plus reasonembed.json, which tells
`reasonembed eval` and `validate` to evaluate it with its training instructions and
--eval-max-length tokens.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = PAPER_RECIPE
    parser.add_argument(
        "--data",
        required=True,
        help="a `reasonembed generate` output folder, a folder or file of reasonembed-format "
        "jsonl/parquet, or a Hub dataset id with optional @revision",
    )
    parser.add_argument("--model", default=defaults.model, help="model folder, alias or Hub id")
    parser.add_argument("--output", required=True, help="folder for the trained model")
    parser.add_argument("--loss", choices=LOSSES, default=defaults.loss)
    parser.add_argument("--domains", nargs="+", help="train only on these domains")
    parser.add_argument("--temperature", type=float, default=defaults.temperature)
    parser.add_argument(
        "--ri-start-step",
        type=int,
        default=defaults.ri_start_step,
        help="steps of plain mean InfoNCE before RI weighting starts",
    )
    parser.add_argument("--ri-clamp-max", type=float, default=defaults.ri_clamp_max)
    parser.add_argument(
        "--learning-rate", type=float, help="default: 1e-4 with LoRA, 2e-5 for full fine-tuning"
    )
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio)
    parser.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument(
        "--group-size", type=int, help="passages per query (default: each row's train_group_size)"
    )
    parser.add_argument(
        "--batch-scale",
        type=float,
        default=defaults.batch_scale,
        help="global batch = each domain's batch_size x this, for any number of processes "
        "(default %(default)g: the paper's 8 GPUs; scales every domain alike)",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="queries per forward chunk of a process's share (memory only: the loss and "
        "gradient do not change; default: the domain's batch_size, one paper GPU's load)",
    )
    parser.add_argument(
        "--max-length", type=int, help="training token limit (default: the model's, else 512)"
    )
    parser.add_argument(
        "--eval-max-length",
        type=int,
        help="token limit recorded for evaluation in reasonembed.json (default: min(8192, the "
        "model's position limit), never below the training length)",
    )
    parser.add_argument(
        "--pooling", choices=("auto", "mean", "cls", "last_token"), default=defaults.pooling
    )
    parser.add_argument(
        "--query-template",
        default=defaults.query_template,
        help="how prompt and query are joined (placeholders {instruction} and {query})",
    )
    parser.add_argument(
        "--lora",
        choices=("auto", "on", "off"),
        default=defaults.lora,
        help="auto: LoRA for decoder backbones, full fine-tuning otherwise",
    )
    parser.add_argument("--lora-r", type=int, default=defaults.lora_r)
    parser.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    parser.add_argument("--lora-dropout", type=float, default=defaults.lora_dropout)
    parser.add_argument(
        "--lora-target-modules",
        nargs="+",
        default=[defaults.lora_target_modules],
        help="module names, or all-linear",
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default=defaults.bf16,
        help="bf16 autocast of the matmuls (auto: on CUDA devices that support it)",
    )
    parser.add_argument(
        "--base-dtype",
        choices=BASE_DTYPES,
        default=defaults.base_dtype,
        help="dtype the base weights are held in. auto: bfloat16 for a LoRA run on a CUDA device "
        "that supports it, float32 otherwise; bfloat16 needs LoRA (full fine-tuning keeps "
        "float32 master weights)",
    )
    parser.add_argument(
        "--no-cross-device-negatives",
        action="store_true",
        help="under torchrun, use only this process's passages as negatives",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--save-steps", type=int, default=defaults.save_steps)
    parser.add_argument("--save-total-limit", type=int, default=defaults.save_total_limit)
    parser.add_argument(
        "--no-resume", action="store_true", help="ignore checkpoints already in --output"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    targets = args.lora_target_modules
    return TrainConfig(
        model=args.model,
        output=args.output,
        data=args.data,
        domains=args.domains,
        loss=args.loss,
        temperature=args.temperature,
        ri_start_step=args.ri_start_step,
        ri_clamp_max=args.ri_clamp_max,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        max_grad_norm=args.max_grad_norm,
        epochs=args.epochs,
        max_steps=args.max_steps,
        group_size=args.group_size,
        batch_scale=args.batch_scale,
        chunk_size=args.chunk_size,
        max_length=args.max_length,
        eval_max_length=args.eval_max_length,
        pooling=args.pooling,
        query_template=args.query_template,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=targets[0] if targets == ["all-linear"] else list(targets),
        gradient_checkpointing=args.gradient_checkpointing,
        bf16=args.bf16,
        base_dtype=args.base_dtype,
        cross_device_negatives=not args.no_cross_device_negatives,
        seed=args.seed,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        resume=not args.no_resume,
        device=args.device,
    )


def warn_if_ri_cannot_start(config: TrainConfig) -> bool:
    """Log one WARNING (and return True) when ri-infonce stops before RI weighting starts."""
    if config.loss != "ri-infonce" or config.max_steps is None:
        return False
    if config.max_steps > config.ri_start_step:
        return False
    logging.getLogger("reasonembed.train").warning(
        "RI weighting cannot start within --max-steps %d: it starts at step %d (--ri-start-step),"
        " so this run is plain InfoNCE; lower --ri-start-step or raise --max-steps",
        config.max_steps,
        config.ri_start_step,
    )
    return True


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if int(os.environ.get("RANK", "0")) == 0:
        warn_if_ri_cannot_start(config)
    with train_faults(args.output):  # SIGTERM/Ctrl-C and a full disk: one line each
        output = train(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained model: {output}")
    return 0
