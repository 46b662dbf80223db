"""The recipe on a GPU, in one command (< 8 minutes on one H200; no network, no downloaded weights).

    python benchmarks/gpu.py [--output out/benchmarks/gpu.json] [--sections trainer,...]
    python benchmarks/gpu.py --device cpu --tiny      # every section at toy shapes on a CPU

Models are random (seeded) weights built from the paper models' configs (`gpu_support.py`), with
a word-level tokenizer made there (one token per word), so the figures are code paths, equality
and speed, never quality. Sections (each one's error is recorded and the next one runs):
- trainer: the paper's per-GPU load on the Qwen3-8B shape (8 queries x 16 passages x 420
  tokens, LoRA r32/a64 all-linear, gradient checkpointing) through `train.model.load_encoder`
  and `train.step.forward_backward`: s/step for InfoNCE and RI-InfoNCE and peak GiB, with the
  default base dtype (auto: bfloat16) and with --base-dtype float32, step-0 loss of both on the
  same batch; then one global batch of the paper (64 queries) accumulated in chunks of 8.
- equality: one step (RI, whole and in chunks of 2) on CPU and on the device, float32, eval
  mode: MiniLM shape (mean pooling) and SmolLM2-135M shape (last-token pooling).
- cli: `reasonembed train` (MiniLM shape; decoder with LoRA and gradient checkpointing) and
  `reasonembed eval` (on the device and on CPU) on data and BRIGHT-layout tasks written here.
- encode: documents/s of `Encoder.encode` and of sentence-transformers' `encode` on the same
  texts (200 tokens), same batch (256), same device and dtype (float16 on CUDA).
- encode_7b: documents/s of `Encoder.encode` on the gte-Qwen2-7B shape in float16 at 512 and
  8,192 tokens per document (the authors' length).
Prints a table and writes JSON after every section. Without CUDA (and no --device cpu) it
prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gpu_sections import SECTIONS  # noqa: E402
from benchmarks.gpu_support import ROOT, Context  # noqa: E402

# the printed table: (label, section, path in that section's figures)
SUMMARY = [
    ("base dtype (auto on CUDA)", "trainer", "bf16_base.base_dtype"),
    ("s/step InfoNCE, bf16 base", "trainer", "bf16_base.infonce_s"),
    ("RI-InfoNCE / InfoNCE, bf16 base", "trainer", "bf16_base.ri_vs_infonce"),
    ("peak GiB, bf16 base", "trainer", "bf16_base.peak_gib"),
    ("global batch s (accumulated), bf16 base", "trainer", "bf16_base.global_batch_s"),
    ("global batch peak GiB, bf16 base", "trainer", "bf16_base.global_batch_peak_gib"),
    ("s/step InfoNCE, float32 base", "trainer", "float32_base.infonce_s"),
    ("peak GiB, float32 base", "trainer", "float32_base.peak_gib"),
    ("step-0 loss rel. diff bf16 vs float32", "trainer", "step0_loss_rel_diff"),
    ("encoder CPU/device loss rel. diff", "equality", "encoder_chunks_of_2.loss_rel_diff"),
    (
        "encoder worst gradient diff",
        "equality",
        "encoder_chunks_of_2.gradient_worst_diff_of_largest",
    ),
    ("decoder CPU/device loss rel. diff", "equality", "decoder_chunks_of_2.loss_rel_diff"),
    (
        "decoder worst gradient diff",
        "equality",
        "decoder_chunks_of_2.gradient_worst_diff_of_largest",
    ),
    ("train MiniLM shape: exit", "cli", "train_encoder.exit"),
    ("train decoder LoRA: exit", "cli", "train_decoder.exit"),
    ("train decoder LoRA: base dtype", "cli", "train_decoder.resolved.base_dtype"),
    ("eval on the device: nDCG@10", "cli", "eval_{device}.ndcg10"),
    ("eval on CPU: nDCG@10", "cli", "eval_cpu.ndcg10"),
    ("MiniLM docs/s, Encoder", "encode", "ours_docs_per_s"),
    ("MiniLM docs/s, sentence-transformers", "encode", "st_docs_per_s"),
    ("cosine Encoder vs sentence-transformers", "encode", "mean_cosine"),
    ("gte-Qwen2-7B shape docs/s, 512 tokens", "encode_7b", "tokens_512.docs_per_s"),
    ("gte-Qwen2-7B shape docs/s, 8,192 tokens", "encode_7b", "tokens_8192.docs_per_s"),
]


def figure(values: dict, path: str):
    for key in path.split("."):
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def table_rows(results: dict, device: str) -> list[tuple[str, str]]:
    """(label, value) of the SUMMARY figures present, and one row per failed section."""
    rows = []
    for section, values in results["sections"].items():
        if "error" in values:
            rows.append((f"{section}: FAILED", values["error"][:70]))
        rows.append((f"{section}: seconds", f"{values['seconds']:.0f}"))
        for label, owner, path in SUMMARY:
            value = figure(values, path.format(device=device)) if owner == section else None
            if value is not None:
                rows.append((label, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return rows


def run_sections(ctx: Context, names: list[str], results: dict, output: Path) -> None:
    """Run each section; its figures, or its error, go to results (and to `output` at once)."""
    for name in names:
        started = time.perf_counter()
        try:
            values = SECTIONS[name](ctx)
        except Exception as error:  # recorded; the next section still runs
            values = {"error": f"{type(error).__name__}: {error}"}
            values["traceback"] = traceback.format_exc()[-3000:]
        ctx.free()
        values["seconds"] = time.perf_counter() - started
        results["sections"][name] = values
        output.write_text(json.dumps(results, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the recipe on a GPU (see the module doc)")
    parser.add_argument("--output", default=str(ROOT / "out" / "benchmarks" / "gpu.json"))
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, ... or cpu (with --tiny)")
    parser.add_argument(
        "--tiny", action="store_true", help="toy shapes: a quick check of the script"
    )
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    args = parser.parse_args(argv)
    names = args.sections.split(",")
    if unknown := [name for name in names if name not in SECTIONS]:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    cuda = args.device.startswith("cuda")
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(args.device) if cuda else "cpu",
        "tiny": args.tiny,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sections": {},
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reasonembed-gpu-") as scratch:
        run_sections(Context(args.device, args.tiny, Path(scratch)), names, results, output)
    print(f"{results['device']}, torch {results['torch']}, {results['date']}")
    for label, value in table_rows(results, args.device):
        print(f"{label:<44} {value}")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
