"""The BRIGHT evaluator: retrieval runs, trec_eval-exact metrics, reports, a contamination guard,
and the evaluation that puts them together (`evaluate`); BRIGHT's data comes from
`reasonembed.bright`. Its commands, `reasonembed eval` and `reasonembed eval-run`, are in
`reasonembed.commands`."""
