"""Figures of evaluation reports and training histories, for one variant or several overlaid.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so no GUI backend is
ever loaded and no figure stays open in pyplot's global state. Saving to PNG renders with Agg.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trm_pipeline.evaluation.tracking import CURVE_METRICS, History

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
SPLIT_STYLES = {"train": {"linestyle": "-"}, "eval": {"linestyle": "--", "marker": "o"}}


def _color(index: int) -> str:
    return COLORS[index % len(COLORS)]


def _note(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, wrap=True)


def plot_training_curves(histories: dict[str, History | None]) -> Figure:
    """Draw train (solid) and eval (dashed) series of each metric, one panel per metric.

    Args:
        histories: Label -> the run's history from ``tracking.fetch_history``, or None when
            the run was not found.
    """
    figure = Figure(figsize=(13, 7.5), layout="constrained")
    panels = figure.subplots(2, 3).ravel()
    for axes, metric in zip(panels, CURVE_METRICS, strict=True):
        for index, (label, history) in enumerate(histories.items()):
            for split, by_metric in (history or {}).items():
                points = by_metric.get(metric)
                if not points:
                    continue
                steps, values = zip(*points, strict=True)
                style = SPLIT_STYLES[split]
                axes.plot(steps, values, color=_color(index), label=f"{label} {split}", **style)
        axes.set_title(metric)
        axes.set_xlabel("optimizer step")
        if not axes.has_data():
            _note(axes, "no train/ or eval/ series in MLflow")
            continue
        if metric.endswith("loss"):
            axes.set_yscale("log")
        axes.legend(fontsize="small")
    figure.suptitle("Training curves (" + ", ".join(histories) + ")")
    return figure


def plot_accuracy_by_step(reports: dict[str, dict[str, Any]]) -> Figure:
    """Draw exact accuracy against the supervision step, one line per report."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for index, (label, report) in enumerate(reports.items()):
        curve = report["exact_accuracy_by_step"]
        axes.plot(range(1, len(curve) + 1), curve, marker="o", color=_color(index), label=label)
        num_supervision_steps = report["protocol"]["num_supervision_steps"]
        if len(curve) > num_supervision_steps:
            axes.axvline(num_supervision_steps, color=_color(index), linestyle=":", alpha=0.6)
    axes.set_xlabel("supervision step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("exact accuracy")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend()
    halting = {report["protocol"]["halting"] for report in reports.values()}
    axes.set_title(f"Exact accuracy after each supervision step ({', '.join(sorted(halting))})")
    return figure


def _bucket_positions(reports: dict[str, dict[str, Any]]) -> list[tuple[int, str]]:
    """Return the union of the reports' rating buckets as (low, label), sorted by ``low``."""
    seen = {
        (bucket["low"], bucket["label"])
        for report in reports.values()
        for bucket in report["by_rating"]["buckets"]
    }
    return sorted(seen)


def plot_accuracy_by_rating(reports: dict[str, dict[str, Any]]) -> Figure:
    """Draw exact accuracy per rating bucket as grouped bars with 95% Wilson error bars."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.subplots()
    positions = _bucket_positions(reports)
    width = 0.8 / max(len(reports), 1)
    for index, (label, report) in enumerate(reports.items()):
        rows = {(b["low"], b["label"]): b for b in report["by_rating"]["buckets"]}
        xs, heights, errors = [], [], [[], []]
        for x, key in enumerate(positions):
            bucket = rows.get(key)
            if bucket is None or bucket["count"] == 0:
                continue
            xs.append(x + (index - (len(reports) - 1) / 2) * width)
            heights.append(bucket["exact_accuracy"])
            # Rounding can put a Wilson bound a hair past the estimate at 0 or 1.
            low = bucket["exact_accuracy"] - bucket["exact_accuracy_ci_low"]
            high = bucket["exact_accuracy_ci_high"] - bucket["exact_accuracy"]
            errors[0].append(max(low, 0.0))
            errors[1].append(max(high, 0.0))
        axes.bar(xs, heights, width, yerr=errors, capsize=3, color=_color(index), label=label)
    axes.set_xticks(range(len(positions)), [label for _, label in positions])
    axes.set_xlabel("difficulty rating")
    axes.set_ylabel("exact accuracy")
    axes.set_ylim(0, 1)
    axes.legend()
    methods = {report["by_rating"]["method"] for report in reports.values()}
    axes.set_title(f"Exact accuracy by rating ({', '.join(sorted(methods))} buckets, 95% CI)")
    return figure


def plot_halt_calibration(reports: dict[str, dict[str, Any]]) -> Figure:
    """Draw a reliability diagram of the halt head: predicted probability against exact rate.

    The lower panel shows how many puzzles fall in each probability bin.
    """
    figure = Figure(figsize=(6.5, 7), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for index, (label, report) in enumerate(reports.items()):
        calibration = report["halt_calibration"]
        bins = [item for item in calibration["bins"] if item["count"]]
        error = calibration["expected_calibration_error"]
        top.plot(
            [item["mean_probability"] for item in bins],
            [item["exact_rate"] for item in bins],
            marker="o",
            color=_color(index),
            label=f"{label} (ECE {error:.3f})",
        )
        centers = [(item["low"] + item["high"]) / 2 for item in calibration["bins"]]
        bar_width = 0.8 * (calibration["bins"][0]["high"] - calibration["bins"][0]["low"])
        shift = (index - (len(reports) - 1) / 2) * bar_width / max(len(reports), 1)
        counts = [item["count"] for item in calibration["bins"]]
        bottom.bar(
            [center + shift for center in centers],
            counts,
            bar_width / max(len(reports), 1),
            color=_color(index),
        )
    top.set_ylabel("observed exact rate")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend()
    top.set_title("Halt calibration: sigmoid(halt logit) vs exact answers")
    bottom.set_xlabel("predicted halt probability")
    bottom.set_ylabel("puzzles")
    return figure


def evaluation_figures(reports: dict[str, dict[str, Any]]) -> dict[str, Figure]:
    """Return the report figures by file stem: accuracy by step, by rating, halt calibration."""
    return {
        "accuracy_by_step": plot_accuracy_by_step(reports),
        "accuracy_by_rating": plot_accuracy_by_rating(reports),
        "halt_calibration": plot_halt_calibration(reports),
    }
