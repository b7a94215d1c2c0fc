"""Evaluation of trained models on token arrays: metrics per puzzle, per step and overall.

- :mod:`.core`: batched evaluation with fixed or learned halting (``evaluate_model``);
- :mod:`.protocol`: the test-set protocol (checkpoint, subset, device, dtype);
- :mod:`.reporting` and :mod:`.stats`: the JSON report, Wilson intervals, rating buckets,
  halt calibration;
- :mod:`.plots`, :mod:`.compare` and :mod:`.tracking`: figures, the Markdown comparison and
  MLflow logging;
- :mod:`.datasets`: the Kedro datasets that store the outputs atomically.
"""

from trm_pipeline.evaluation.core import EvaluationResult, evaluate_model

__all__ = ["EvaluationResult", "evaluate_model"]
