"""The ReMixer pipeline as a distilabel script.

    python pipelines/remixer.py [CONFIG]        # run it (default: pipelines/configs/demo.yaml)
    reasonembed dump-pipeline CONFIG -o pipelines/remixer.yaml
    distilabel pipeline run --config pipelines/remixer.yaml [--param STEP.FIELD=VALUE ...]

`reasonembed generate CONFIG --output DIR` runs the same pipeline and also writes the output
folder (raw, training exports, stats, quarantine).
"""

import sys
from pathlib import Path

from reasonembed.config import load_config
from reasonembed.pipeline import build_pipeline

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"


def main() -> None:
    config = load_config(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CONFIG)
    distiset = build_pipeline(config).run(use_cache=True)
    samples = distiset["assemble_samples"]["train"]
    kept = samples.filter(lambda row: row["drop_reason"] is None)
    print(f"{len(kept)} samples kept of {len(samples)} annotated queries")


if __name__ == "__main__":
    main()
