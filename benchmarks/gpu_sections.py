"""The checks `benchmarks/gpu.py` runs (its docstring says what each measures). Each section takes
the `Context` and returns a dict of figures; the project's own functions do the work."""

from __future__ import annotations

import json
import random
import statistics

from benchmarks.gpu_support import (
    GTE_QWEN2_7B,
    MINILM_L6,
    QWEN3_8B,
    SMOLLM2_135M,
    Context,
    make_batch,
    model_folder,
    run_cli,
    text,
    write_cli_data,
)

PAPER_LOAD = dict(queries=8, group=16, tokens=420, global_queries=64)  # one GPU's share
TINY_LOAD = dict(queries=4, group=4, tokens=32, global_queries=8)


def trainer_run(ctx: Context, folder: str, base_dtype: str, repeats: int, whole: bool) -> dict:
    """Steps at the per-GPU load with `base_dtype`; `whole`: then one accumulated global batch."""
    from reasonembed.train import TrainConfig
    from reasonembed.train.model import dtype_name, load_encoder, use_bf16
    from reasonembed.train.step import apply_gradients, forward_backward

    torch, load = ctx.torch, TINY_LOAD if ctx.tiny else PAPER_LOAD
    config = TrainConfig(
        model=folder,
        rows=[],
        base_dtype=base_dtype,
        gradient_checkpointing=True,
        max_length=load["tokens"],
        device=str(ctx.device),
    )
    torch.manual_seed(0)  # the same random weights (drawn in float32) for every base dtype
    encoder = load_encoder(config, ctx.device, random_weights=True)
    encoder.model.train()
    bf16 = use_bf16(config, ctx.device)
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16) if bf16 else None
    trainable = [p for p in encoder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)

    def step(batch, use_ri: bool) -> float:
        result = forward_backward(encoder, batch, 0.02, use_ri, load["queries"], autocast=autocast)
        apply_gradients(trainable, optimizer, None, 1.0)
        return float(result.loss)

    batch = make_batch(load["queries"], load["group"], load["tokens"])
    ctx.reset_peak()
    torch.manual_seed(1)
    loss0, first = ctx.timed(step, batch, False)
    infonce = statistics.median(ctx.timed(step, batch, False)[1] for _ in range(repeats))
    ri = statistics.median(ctx.timed(step, batch, True)[1] for _ in range(repeats))
    out = dict(
        choice=base_dtype,
        base_dtype=dtype_name(encoder.dtype),
        autocast=bf16,
        parameters=sum(p.numel() for p in encoder.model.parameters()),
        trainable=sum(p.numel() for p in trainable),
        step0_loss=loss0,
        first_step_s=first,
        infonce_s=infonce,
        ri_infonce_s=ri,
        ri_vs_infonce=ri / infonce,
        peak_gib=ctx.peak_gib(),
    )
    if whole:
        big = make_batch(load["global_queries"], load["group"], load["tokens"], seed=1)
        ctx.reset_peak()
        out["global_batch_queries"] = load["global_queries"]
        out["global_batch_s"] = ctx.timed(step, big, True)[1]
        out["global_batch_peak_gib"] = ctx.peak_gib()
    return out


def section_trainer(ctx: Context) -> dict:
    """The new default (auto: bfloat16 base on a CUDA device with bf16; asked for explicitly on a
    CPU, where auto is float32) against a float32 base, same weights, same batch."""
    folder = model_folder(ctx, "qwen3-8b", QWEN3_8B, weights=False)
    out = {"load": TINY_LOAD if ctx.tiny else PAPER_LOAD}
    out["bf16_base"] = trainer_run(ctx, folder, "auto" if ctx.cuda else "bfloat16", 2, True)
    ctx.free()
    out["float32_base"] = trainer_run(ctx, folder, "float32", repeats=1, whole=False)
    ctx.free()
    reference = out["float32_base"]["step0_loss"]
    out["step0_loss_rel_diff"] = abs(out["bf16_base"]["step0_loss"] - reference) / abs(reference)
    out["speedup_over_float32"] = out["float32_base"]["infonce_s"] / out["bf16_base"]["infonce_s"]
    return out


def one_step(folder: str, device: str, batch, chunk: int | None, dtype) -> tuple:
    """(loss, RI, {name: gradient}) of one RI step in float32, eval mode (no dropout)."""
    from reasonembed.retrieval import Encoder
    from reasonembed.train.step import forward_backward

    encoder = Encoder(folder, device=device, dtype=dtype, max_length=64)
    encoder.model.eval()
    result = forward_backward(encoder, batch, 0.02, True, chunk_queries=chunk)
    grads = {n: p.grad.cpu() for n, p in encoder.model.named_parameters() if p.grad is not None}
    return float(result.loss), result.ri.cpu(), grads


def section_equality(ctx: Context) -> dict:
    batch, out = make_batch(4, 4, 48, seed=2), {}
    for name, shape in (("encoder", MINILM_L6), ("decoder", SMOLLM2_135M)):
        folder = model_folder(ctx, name, shape, weights=True)
        for chunk in (None, 2):
            runs = [
                one_step(folder, device, batch, chunk, ctx.torch.float32)
                for device in ("cpu", str(ctx.device))
            ]
            (loss_a, ri_a, grads_a), (loss_b, ri_b, grads_b) = runs
            scale = max(float(g.abs().max()) for g in grads_a.values())
            worst = max(float((grads_a[n] - grads_b[n]).abs().max()) for n in grads_a)
            out[f"{name}_{'whole' if chunk is None else 'chunks_of_2'}"] = dict(
                loss_rel_diff=abs(loss_a - loss_b) / abs(loss_a),
                gradient_worst_diff_of_largest=worst / scale,
                ri_worst_diff=float((ri_a - ri_b).abs().max()),
            )
        ctx.free()
    return out


def section_cli(ctx: Context) -> dict:
    data, bright = write_cli_data(ctx.root / "cli")
    out = {}
    common = ["--data", data, "--device", ctx.device, "--max-steps", 4, "--batch-scale", 1]
    common += ["--ri-start-step", 2, "--max-length", 64]
    for name, shape, extra in (
        ("encoder", MINILM_L6, []),
        ("decoder", SMOLLM2_135M, ["--gradient-checkpointing"]),  # LoRA, base dtype auto
    ):
        output = ctx.root / "cli" / f"trained-{name}"
        folder = model_folder(ctx, name, shape, weights=True)
        code, seconds, tail = run_cli(
            ["train", "--model", folder, "--output", output, *common, *extra]
        )
        config = output / "redapter_config.json"
        resolved = json.loads(config.read_text())["resolved"] if config.exists() else None
        out[f"train_{name}"] = dict(exit=code, seconds=seconds, resolved=resolved)
        out[f"train_{name}"].update({"stderr": tail} if code else {})
    for device in dict.fromkeys([str(ctx.device), "cpu"]):
        report = ctx.root / "cli" / f"eval-{device}"
        code, seconds, tail = run_cli(
            ["eval", "--model", ctx.root / "cli" / "trained-encoder", "--bright", bright]
            + ["--tasks", "biology,leetcode", "--device", device, "--output", report]
            + ["--cache-dir", "none"]
        )
        results = report / "results.json"
        ndcg = json.loads(results.read_text())["mean"]["ndcg@10"] if results.exists() else None
        out[f"eval_{device}"] = dict(exit=code, seconds=seconds, ndcg10=ndcg)
        out[f"eval_{device}"].update({"stderr": tail} if code else {})
    return out


def section_encode(ctx: Context) -> dict:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from reasonembed.retrieval import Encoder

    count, batch = (300, 64) if ctx.tiny else (20_000, 256)
    rng = random.Random(4)
    texts = [text(rng, 200) for _ in range(count)]
    dtype = ctx.torch.float16 if ctx.cuda else ctx.torch.float32
    folder = model_folder(ctx, "encoder", MINILM_L6, weights=True)
    ours = Encoder(folder, device=str(ctx.device), dtype=dtype, max_length=256)
    theirs = SentenceTransformer(folder, device=str(ctx.device), model_kwargs={"dtype": dtype})
    theirs.max_seq_length = 256
    ours.encode(texts[:batch], batch_size=batch)  # warm-up
    theirs.encode(texts[:batch], batch_size=batch)
    a, ours_s = ctx.timed(ours.encode, texts, batch_size=batch)
    b, theirs_s = ctx.timed(theirs.encode, texts, batch_size=batch, convert_to_numpy=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return dict(
        documents=count,
        tokens=200,
        batch=batch,
        dtype=str(dtype),
        ours_docs_per_s=count / ours_s,
        st_docs_per_s=count / theirs_s,
        ours_over_st=theirs_s / ours_s,
        mean_cosine=float((a * b).sum(1).mean()),
    )


def encode_lengths(ctx: Context, encoder) -> dict:
    out, rng = {}, random.Random(5)
    plan = ((32, 16, 8), (128, 4, 2)) if ctx.tiny else ((512, 512, 32), (8192, 32, 4))
    for tokens, count, batch in plan:
        texts = [text(rng, tokens) for _ in range(count)]
        encoder.max_length = tokens
        encoder.encode(texts[:batch], batch_size=batch)  # warm-up
        ctx.reset_peak()
        seconds = ctx.timed(encoder.encode, texts, batch_size=batch)[1]
        out[f"tokens_{tokens}"] = dict(
            documents=count,
            batch=batch,
            docs_per_s=count / seconds,
            tokens_per_s=count * tokens / seconds,
            peak_gib=ctx.peak_gib(),
        )
    return out


def section_encode_7b(ctx: Context) -> dict:
    from reasonembed.retrieval import Encoder

    folder = model_folder(ctx, "gte-qwen2-7b", GTE_QWEN2_7B, weights=False)
    ctx.torch.manual_seed(0)
    encoder = Encoder(
        folder,
        device=str(ctx.device),
        dtype=ctx.torch.float16 if ctx.cuda else ctx.torch.float32,
        random_weights=True,
        pooling="last_token",
    )
    out = {"parameters": sum(p.numel() for p in encoder.model.parameters())}
    out.update(encode_lengths(ctx, encoder))
    return out


SECTIONS = {
    "trainer": section_trainer,
    "equality": section_equality,
    "cli": section_cli,
    "encode": section_encode,
    "encode_7b": section_encode_7b,
}
