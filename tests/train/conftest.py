import torch

# The test machine's 2 cores are shared: one intra-op thread per process avoids oversubscription
# (measured: a MiniLM step takes ~0.6 s with 1 thread and 1.3-10 s with 2 under load).
torch.set_num_threads(1)
