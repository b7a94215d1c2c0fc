"""Evaluation of trained models on token arrays: metrics per puzzle, per step and overall."""

from trm_pipeline.evaluation.core import EvaluationResult, evaluate_model

__all__ = ["EvaluationResult", "evaluate_model"]
