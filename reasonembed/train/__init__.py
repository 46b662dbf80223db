"""Redapter: RI-weighted InfoNCE training of embedding models on reasonembed-format data.

- `losses`: per-sample InfoNCE, reasoning intensity (RI), RI weights.
- `data`: training-row checks, domain-homogeneous global batch plans, query/passage groups.
- `distributed`: process group set-up and the gradient-keeping all_gather.
- `step`: the loss of a global batch and its gradient, in one piece or accumulated in chunks with
  cached representations (GradCache).
- `config`: `TrainConfig`, everything a run depends on.
- `model`: the model a run trains: LoRA or full fine-tuning, the base weights' dtype, autocast.
- `checkpoints`: atomic checkpoints and exact resumes.
- `loop`: `train(config) -> Path` (the API `validate` calls).

The `reasonembed train` command is `reasonembed.commands.train`. May import the helpers, `data`
(training rows) and `retrieval` (encoders, the model folder's settings); never `eval` or
`validation` (tests/test_layers.py), the run or a command.
"""

from reasonembed.train.config import TrainConfig
from reasonembed.train.loop import train

__all__ = ["TrainConfig", "train"]
