"""The BRIGHT evaluator: data loading, retrieval runs, trec_eval-exact metrics, reports and a
contamination guard. `reasonembed eval` and `reasonembed eval-run` are its commands."""
