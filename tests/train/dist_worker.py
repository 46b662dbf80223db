"""Run under `torchrun --nproc_per_node 2` by test_distributed.py (gloo on CPU).

argv: OUT_DIR DATA_DIR. Each rank writes OUT_DIR/rank{R}.json with what it saw:
1. toy tensors: the gathered logits' shape, and their largest difference from logits computed
   from every rank's tensors rebuilt locally; the local shard's gradient against the gradient
   of the same global loss computed in one process;
2. MiniLM: the gathered passage embeddings against a local encoding of the other rank's
   passages, and the cross-device loss against the single-process loss of the whole batch;
3. MiniLM, one global batch of 4 queries x 3 passages with RI weighting: loss and gradient of two
   processes without accumulation, of two processes accumulating one query at a time, and of ONE
   process holding the whole global batch and accumulating it one query at a time;
4. a 2-step `train()` run over both ranks (rank 0 writes the model and the log).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from reasonembed.retrieval import Encoder
from reasonembed.train import TrainConfig, train
from reasonembed.train.data import Batch
from reasonembed.train.distributed import all_reduce_gradients, gather_with_grad, init_distributed
from reasonembed.train.losses import infonce_per_sample, similarity_logits
from reasonembed.train.step import compute_loss, forward_backward

TEMPERATURE = 0.05
QUERIES, GROUP, DIM = 2, 3, 4


def toy(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + rank)
    q = F.normalize(torch.randn(QUERIES, DIM, generator=generator), dim=-1)
    p = F.normalize(torch.randn(QUERIES * GROUP, DIM, generator=generator), dim=-1)
    return q, p


def texts(rank: int) -> tuple[list[str], list[str], list[str]]:
    queries = [f"rank {rank} question {i} about tides and the moon" for i in range(QUERIES)]
    reasoning = [f"{q}, reasoned step by step" for q in queries]
    passages = [f"rank {rank} passage {j} on gravity and oceans" for j in range(QUERIES * GROUP)]
    return queries, reasoning, passages


def main() -> None:
    out, data = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    context = init_distributed()
    rank, world = context.rank, context.world_size
    other = 1 - rank
    report: dict = {"rank": rank, "world_size": world}

    # 1. toy tensors
    q, p = toy(rank)
    q.requires_grad_(True)
    p.requires_grad_(True)
    q_all, p_all = gather_with_grad(q), gather_with_grad(p)
    logits = similarity_logits(q_all, p_all, TEMPERATURE)
    parts = [toy(r) for r in range(world)]
    q_ref = torch.cat([part[0] for part in parts]).requires_grad_(True)
    p_ref = torch.cat([part[1] for part in parts]).requires_grad_(True)
    expected = similarity_logits(q_ref, p_ref, TEMPERATURE)
    report["logits_shape"] = list(logits.shape)
    report["logits_max_diff"] = float((logits - expected).abs().max())
    other_columns = slice(other * QUERIES * GROUP, (other + 1) * QUERIES * GROUP)
    report["other_rank_block_max_diff"] = float(
        (logits[:, other_columns] - q_ref.detach() @ parts[other][1].T / TEMPERATURE).abs().max()
    )
    positive = torch.arange(world * QUERIES) * GROUP
    infonce_per_sample(q_all, p_all, positive, TEMPERATURE).sum().backward()
    infonce_per_sample(q_ref, p_ref, positive, TEMPERATURE).sum().backward()
    local_q = slice(rank * QUERIES, (rank + 1) * QUERIES)
    local_p = slice(rank * QUERIES * GROUP, (rank + 1) * QUERIES * GROUP)
    report["q_grad_max_diff"] = float((q.grad - q_ref.grad[local_q]).abs().max())
    report["p_grad_max_diff"] = float((p.grad - p_ref.grad[local_p]).abs().max())

    # 2. MiniLM embeddings through compute_loss (eval mode: no dropout, so ranks can compare)
    encoder = Encoder("minilm", max_length=32, device="cpu")
    encoder.model.eval()
    mine, theirs = texts(rank), texts(other)
    with torch.no_grad():
        gathered = gather_with_grad(F.normalize(encoder.embed(mine[2]), dim=-1))
        other_local = F.normalize(encoder.embed(theirs[2]), dim=-1)
    report["gathered_passages_shape"] = list(gathered.shape)
    report["gathered_other_rank_max_diff"] = float(
        (gathered[other_columns] - other_local).abs().max()
    )
    batch = Batch("tides", mine[0], mine[1], mine[2], GROUP)
    with torch.no_grad():
        distributed = compute_loss(encoder, batch, 0.02, use_ri=True)
        ordered = [texts(r) for r in range(world)]
        whole = Batch(
            "tides",
            [t for part in ordered for t in part[0]],
            [t for part in ordered for t in part[1]],
            [t for part in ordered for t in part[2]],
            GROUP,
        )
        single = compute_loss(encoder, whole, 0.02, use_ri=True, cross_device=False)
    report["loss_cross_device"] = float(distributed.loss)
    report["loss_single_process"] = float(single.loss)

    # 3. the global batch, split over two processes or accumulated in one
    def step(batch: Batch, chunk: int | None, cross_device: bool, reduce: bool):
        encoder.model.zero_grad(set_to_none=True)
        result = forward_backward(
            encoder, batch, 0.02, use_ri=True, chunk_queries=chunk, cross_device=cross_device
        )
        named = [(n, p) for n, p in encoder.model.named_parameters() if p.grad is not None]
        if reduce:
            all_reduce_gradients([p for _, p in named])
        return float(result.loss), result.chunks, {n: p.grad.clone() for n, p in named}

    def largest_difference(first: dict, second: dict) -> float:
        """Largest gradient difference, relative to the largest gradient entry."""
        assert first.keys() == second.keys()
        scale = max(float(g.abs().max()) for g in second.values())
        return max(float((first[n] - second[n]).abs().max()) for n in first) / scale

    two, _, two_grads = step(batch, None, cross_device=True, reduce=True)
    two_acc, two_chunks, two_acc_grads = step(batch, 1, cross_device=True, reduce=True)
    one_acc, one_chunks, one_acc_grads = step(whole, 1, cross_device=False, reduce=False)
    report["global_batch"] = [len(whole.queries), len(whole.passages)]
    report["chunks"] = {"two_processes": two_chunks, "one_process": one_chunks}
    report["loss_two_processes"] = two
    report["loss_two_processes_accumulated"] = two_acc
    report["loss_one_process_accumulated"] = one_acc
    report["grad_parameters"] = len(two_grads)
    report["grad_diff_one_process_accumulated"] = largest_difference(one_acc_grads, two_grads)
    report["grad_diff_two_processes_accumulated"] = largest_difference(two_acc_grads, two_grads)
    encoder.model.zero_grad(set_to_none=True)

    # 4. a real two-process training run
    output = train(
        TrainConfig(
            model="minilm",
            data=data,
            output=out / "model",
            max_steps=2,
            ri_start_step=1,
            max_length=32,
            batch_scale=1,  # global batch 4 queries (the rows' batch_size): 2 per process
            chunk_size=1,  # each process accumulates its 2 queries one at a time
            progress=False,
            device="cpu",
        )
    )
    report["output"] = str(output)
    (out / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
