"""Torch in distilabel's forked step processes.

distilabel starts each step in a process forked from the one that called `pipeline.run()`. When
that parent had already run torch on several threads (a notebook that encoded something, a test
session), a forked child that runs torch on several threads again deadlocks inside GNU OpenMP,
which is not fork-safe (seen here: the mining step hung in its first forward pass). A step that
runs torch therefore sets its own thread count when it loads; one thread per step is the
default, since a pipeline's steps run side by side anyway.
"""

from __future__ import annotations

DEFAULT_STEP_TORCH_THREADS = 1


def limit_torch_threads(threads: int) -> None:
    """Run torch on `threads` threads in this process (call before any torch op)."""
    import torch

    torch.set_num_threads(max(1, threads))
