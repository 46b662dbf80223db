"""The ReMixer steps (distilabel Steps/Tasks/GlobalSteps), one concept per module, and the seed
gate between the seed step and the leaf (`seed_gate`).

Saved pipelines name these classes by module path (`reasonembed.steps.*`): they stay here.
May import: the helpers, `data`, `config` (the blocks a step takes), `prompts`, `retrieval`,
`quality`, `bright` and `llms`; never the run (`reasonembed.factory`: what a step needs from it
is passed in, e.g. the gate's file), train, eval, hub, validation or a command
(tests/test_layers.py).
"""
