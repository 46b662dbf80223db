"""`reasonembed train`: Redapter training on a reasonembed-format dataset.

    reasonembed train --data DIR|FILE|REPO[@REVISION] --model NAME_OR_PATH --output OUT \\
        --loss ri-infonce|infonce [--max-steps N] [...]

Multi-process (cross-device negatives): `torchrun --nproc_per_node N -m reasonembed.cli train ...`
(gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import argparse
import os

from reasonembed.train.loop import LOSSES, TrainConfig, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
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
        "--batch-size", type=int, help="queries per process (default: each row's batch_size)"
    )
    parser.add_argument("--max-length", type=int, help="token limit (default: the model's)")
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
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default=defaults.bf16)
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
        batch_size=args.batch_size,
        max_length=args.max_length,
        pooling=args.pooling,
        query_template=args.query_template,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=targets[0] if targets == ["all-linear"] else list(targets),
        gradient_checkpointing=args.gradient_checkpointing,
        bf16=args.bf16,
        cross_device_negatives=not args.no_cross_device_negatives,
        seed=args.seed,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        resume=not args.no_resume,
        device=args.device,
    )


def run(args: argparse.Namespace) -> int:
    output = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained model: {output}")
    return 0
