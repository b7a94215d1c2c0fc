"""The Markdown report that sets the evaluation reports of several variants side by side."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

# Exact accuracy on all 422,786 Sudoku-Extreme test puzzles reported for TRM-Att and TRM-MLP
# in "Less is More: Recursive Reasoning with Tiny Networks" (Jolicoeur-Martineau, 2025).
PAPER_EXACT_ACCURACY = {"att": 0.747, "mlp": 0.874}

# Rows of the main table: (label, key in "overall", format: "percent", "steps" or "float").
METRIC_ROWS = (
    ("accuracy (cells, givens included)", "accuracy", "percent"),
    ("blank accuracy", "blank_accuracy", "percent"),
    ("q_halt accuracy", "q_halt_accuracy", "percent"),
    ("mean supervision steps", "steps", "steps"),
    ("lm_loss", "lm_loss", "float"),
    ("q_halt_loss", "q_halt_loss", "float"),
)
FIGURES = (
    ("Training curves (solid: train, dashed: periodic eval)", "training_curves.png"),
    ("Exact accuracy after each supervision step", "accuracy_by_step.png"),
    ("Exact accuracy by difficulty rating", "accuracy_by_rating.png"),
    ("Halt calibration", "halt_calibration.png"),
)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _exact_cell(metrics: dict[str, Any]) -> str:
    if not metrics.get("count"):
        return "–"
    return (
        f"**{_percent(metrics['exact_accuracy'])}** ({metrics['exact_count']:,} of "
        f"{metrics['count']:,}; 95% CI {_percent(metrics['exact_accuracy_ci_low'])}–"
        f"{_percent(metrics['exact_accuracy_ci_high'])})"
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


SUMMARY_LABELS = (
    "parameters",
    "training steps",
    "training wall time",
    "training device",
    "checkpoint",
    "halting, step budget",
    "**exact accuracy**",
    "paper exact accuracy (full test set)",
    *(label for label, _, _ in METRIC_ROWS),
    "halt calibration error (ECE)",
    "evaluation wall time",
    "MLflow training run",
)


def _paper_accuracy(variant: Any) -> str:
    value = PAPER_EXACT_ACCURACY.get(str(variant))
    return "–" if value is None else f"{100 * value:.1f}%"


def _integer(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def _summary_column(report: dict[str, Any], status: str | None) -> list[str]:
    """Return one variant's cells of the main table, in the order of ``SUMMARY_LABELS``."""
    training, overall, protocol = report["training"], report["overall"], report["protocol"]
    checkpoint = report["checkpoint"]
    cells = [
        _integer(training.get("num_parameters")),
        _integer(training.get("steps")),
        _duration(training.get("wall_time_seconds")),
        str(training.get("device", "–")),
        f"{checkpoint['which']} (step {checkpoint['step']})",
        f"{protocol['halting']}, {protocol['max_steps']}",
        _exact_cell(overall),
        _paper_accuracy(report.get("variant")),
    ]
    for _, key, kind in METRIC_ROWS:
        value = overall.get(key)
        if value is None:
            cells.append("–")
        else:
            digits = 2 if kind == "steps" else 4
            cells.append(_percent(value) if kind == "percent" else f"{value:.{digits}f}")
    cells += [
        f"{report['halt_calibration']['expected_calibration_error']:.4f}",
        f"{_duration(report['wall_time_seconds'])} on {protocol['device']}",
        _run_cell(report.get("mlflow_run"), status),
    ]
    return cells


def _summary_rows(
    reports: dict[str, dict[str, Any]], statuses: dict[str, str | None]
) -> list[list[str]]:
    columns = [_summary_column(report, statuses.get(name)) for name, report in reports.items()]
    rows = zip(*columns, strict=True)  # one tuple of cells per summary row
    return [[label, *cells] for label, cells in zip(SUMMARY_LABELS, rows, strict=True)]


def _run_cell(mlflow_run: dict[str, Any] | None, status: str | None) -> str:
    run_id = (mlflow_run or {}).get("training_run_id")
    if not run_id:
        return "not tracked"
    return f"`{run_id}` ({status or 'not found'})"


def _breakdown_rows(reports: dict[str, dict[str, Any]], section: str) -> list[list[str]]:
    keys: dict[str, None] = {}
    for report in reports.values():
        for key in _groups(report, section):
            keys.setdefault(key, None)
    rows = []
    for key in keys:
        cells = [_exact_cell(_groups(report, section).get(key, {})) for report in reports.values()]
        rows.append([key, *cells])
    return rows


def _groups(report: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    if section == "by_rating":
        return {bucket["label"]: bucket for bucket in report["by_rating"]["buckets"]}
    return report[section]


def comparison_warnings(reports: dict[str, dict[str, Any]], statuses: dict[str, str | None]):
    """Return notes on anything that makes the comparison unfair or incomplete."""
    notes = []
    fingerprints = {report["protocol"]["test_set_sha256"] for report in reports.values()}
    if len(fingerprints) > 1:
        notes.append(
            "The variants were evaluated on different test puzzles (different data, subset size "
            "or seed), so their numbers are not directly comparable."
        )
    protocols = {
        (r["protocol"]["halting"], r["protocol"]["max_steps"], r["checkpoint"]["which"])
        for r in reports.values()
    }
    if len(protocols) > 1:
        notes.append(
            "The variants were evaluated with different halting modes, step budgets or "
            "checkpoint choices (best or last)."
        )
    training_runs = [(r.get("mlflow_run") or {}).get("training_run_id") for r in reports.values()]
    if None not in training_runs and len(set(training_runs)) < len(training_runs):
        notes.append(
            "Several variants were trained in one MLflow run (`kedro run` without "
            "`--pipelines`), so their training curves are mixed in each panel."
        )
    for name, report in reports.items():
        status = statuses.get(name)
        if (report.get("mlflow_run") or {}).get("training_run_id") and status != "FINISHED":
            notes.append(
                f"The MLflow run of {name} is {status or 'missing from this tracking store'}; "
                "its training curves may be incomplete or absent."
            )
    return notes


def comparison_markdown(
    reports: dict[str, dict[str, Any]],
    statuses: dict[str, str | None],
    notes: list[str],
) -> str:
    """Render the comparison report.

    Args:
        reports: Pipeline name -> its evaluation report, in column order.
        statuses: Pipeline name -> the status of its MLflow run (None when not found).
        notes: Warnings to print above the tables.
    """
    names = list(reports)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"# {' vs '.join(names)} on the Sudoku test set",
        "",
        f"Generated {created} from the evaluation reports in "
        + ", ".join(f"`data/08_reporting/{name}/`" for name in names)
        + ". Exact accuracy is the share of puzzles with all 81 cells right.",
        "",
    ]
    for note in notes:
        lines += [f"> **Note:** {note}", ""]
    lines += ["## Metrics", ""]
    lines += _table(["", *names], _summary_rows(reports, statuses))
    if len(names) == 2:
        first, second = (reports[name]["overall"].get("exact_accuracy") for name in names)
        if first is not None and second is not None:
            lines += [
                "",
                f"Exact accuracy of {names[1]} minus {names[0]}: "
                f"{100 * (second - first):+.2f} percentage points.",
            ]
    lines += ["", "## Exact accuracy by source", ""]
    lines += _table(["source", *names], _breakdown_rows(reports, "by_source"))
    methods = sorted({report["by_rating"]["method"] for report in reports.values()})
    lines += ["", f"## Exact accuracy by difficulty rating ({', '.join(methods)} buckets)", ""]
    lines += _table(["rating", *names], _breakdown_rows(reports, "by_rating"))
    lines += ["", "## Figures", ""]
    for title, filename in FIGURES:
        lines += [f"### {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines)
