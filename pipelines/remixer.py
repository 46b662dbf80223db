"""The ReMixer pipeline as a distilabel script.

    python pipelines/remixer.py [CONFIG]        # run it (default: pipelines/configs/demo.yaml)
    reasonembed dump-pipeline CONFIG -o pipelines/remixer.yaml
    distilabel pipeline run --config pipelines/remixer.yaml [--param STEP.PARAMETER=VALUE ...]

`--param` sets distilabel's runtime parameters only (input_batch_size, resources, the LLM's
generation kwargs); a step's settings are the config's blocks, fixed in the YAML.

`reasonembed generate CONFIG --output DIR` runs the same pipeline and also writes the output
folder (raw, training exports, stats, quarantine).
"""

import sys
from collections import Counter
from pathlib import Path

from reasonembed.config import load_config
from reasonembed.factory.output_writer import iter_raw_batches, leaf_files
from reasonembed.factory.pipeline import LEAF_STEP, build_pipeline

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"


def main() -> None:
    config = load_config(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CONFIG)
    pipeline = build_pipeline(config)
    pipeline.run(use_cache=True)
    # the leaf's files, by step name (distilabel renames a lone leaf to "default" in the Distiset)
    statuses = Counter(
        record["status"]
        for batch in iter_raw_batches(leaf_files(pipeline, LEAF_STEP), columns=["status"])
        for record in batch
    )
    print(f"{statuses['kept']} samples kept of {sum(statuses.values())} seeds ({dict(statuses)})")


if __name__ == "__main__":
    main()
