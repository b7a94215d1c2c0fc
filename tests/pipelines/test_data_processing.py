"""The data_processing pipeline run through KedroSession, on generated and real puzzles."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from trm_pipeline.datasets import ModelInputDataset
from trm_pipeline.sudoku import keeps_givens_batch, tokens_to_grids, valid_solutions


def load_inputs(project, name):
    return ModelInputDataset(filepath=str(project / "data/05_model_input" / f"{name}.npz")).load()


def test_generated_source_builds_model_inputs(run_pipeline, kedro_project):
    run_pipeline("data_processing")
    train = load_inputs(kedro_project, "train_inputs")
    test = load_inputs(kedro_project, "test_inputs")
    # conf/test: 16 training puzzles x (1 + 3 augmentations), 12 test puzzles.
    assert train["inputs"].shape == (64, 81)
    assert train["group_indices"].tolist() == list(range(0, 65, 4))
    assert test["inputs"].shape == (12, 81)
    assert test["group_indices"].tolist() == list(range(13))
    metadata = train["metadata"]
    assert metadata["vocab_size"] == 11
    assert metadata["seq_len"] == 81
    assert metadata["token_map"]["<blank>"] == 1
    assert metadata["source"] == "generated"
    answers = tokens_to_grids(train["labels"])
    puzzles = tokens_to_grids(train["inputs"])
    assert valid_solutions(answers).all()
    assert keeps_givens_batch(puzzles, answers).all()
    report = json.loads((kedro_project / "data/08_reporting/leakage_report.json").read_text())
    assert report["num_test_puzzles"] == 12


def test_same_seed_builds_identical_data(run_pipeline, kedro_project):
    run_pipeline("data_processing")
    first = load_inputs(kedro_project, "train_inputs")["inputs"].copy()
    run_pipeline("data_processing")
    second = load_inputs(kedro_project, "train_inputs")["inputs"]
    np.testing.assert_array_equal(first, second)
    run_pipeline("data_processing", params={"data.seed": 1})
    third = load_inputs(kedro_project, "train_inputs")["inputs"]
    assert not np.array_equal(first, third)


def test_csv_source_on_external_puzzles(run_pipeline, kedro_project, external_csv):
    params = {
        "data.source": "csv",
        "data.csv.train_path": str(external_csv),
        "data.csv.test_path": str(external_csv),
        "data.train_subsample": 50,
        "data.test_subsample": 40,
        "data.num_aug": 2,
    }
    run_pipeline("data_processing", params=params)
    train = load_inputs(kedro_project, "train_inputs")
    test = load_inputs(kedro_project, "test_inputs")
    assert train["inputs"].shape == (150, 81)
    assert test["inputs"].shape == (40, 81)
    assert set(test["sources"].tolist()) == {"external_qqwing_tdoku"}
    assert valid_solutions(tokens_to_grids(test["labels"])).all()
    report = json.loads((kedro_project / "data/08_reporting/leakage_report.json").read_text())
    # Both splits come from one file, so test puzzles drawn into training are found again.
    overlap = set(report_indices := [e["test_index"] for e in report["examples"]])
    assert report["num_test_equivalent_to_train"] >= len(overlap) == len(report_indices)


def test_bad_row_fails_and_keeps_old_inputs(run_pipeline, kedro_project, external_csv):
    run_pipeline("data_processing")
    good = (kedro_project / "data/05_model_input/train_inputs.npz").read_bytes()
    lines = external_csv.read_text().splitlines()
    fields = lines[3].split(",")
    fields[1] = fields[1][:10] + "x" + fields[1][11:]
    lines[3] = ",".join(fields)
    broken = kedro_project / "broken.csv"
    broken.write_text("\n".join(lines[:30]) + "\n")
    params = {
        "data.source": "csv",
        "data.csv.train_path": str(broken),
        "data.csv.test_path": str(broken),
        "data.train_subsample": 10,
        "data.test_subsample": 10,
    }
    with pytest.raises(Exception, match=r"broken.csv, line 4: column 'question'.*'x'"):
        run_pipeline("data_processing", params=params)
    assert (kedro_project / "data/05_model_input/train_inputs.npz").read_bytes() == good

    run_pipeline("data_processing", params={**params, "data.on_invalid": "skip"})
    train = load_inputs(kedro_project, "train_inputs")
    assert len(train["inputs"]) == 10 * 4


def test_huggingface_unreachable_names_other_sources(run_pipeline, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = {"data.source": "huggingface", "data.huggingface.cache_dir": str(tmp_path / "hf")}
    with pytest.raises(Exception, match=r"data.source: csv.*data.source: generated"):
        run_pipeline("data_processing", params=params)


def test_huggingface_source_reads_local_cache(run_pipeline, monkeypatch, tmp_path, external_csv):
    # The layout huggingface_hub gives its cache: refs name the commit, snapshots hold files.
    repo = tmp_path / "hf" / "datasets--sapientinc--sudoku-extreme"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    lines = external_csv.read_text().splitlines()
    (snapshot / "train.csv").write_text("\n".join(lines[:41]) + "\n")
    (snapshot / "test.csv").write_text("\n".join(lines[:1] + lines[41:61]) + "\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = {
        "data.source": "huggingface",
        "data.huggingface.cache_dir": str(tmp_path / "hf"),
        "data.train_subsample": 40,
        "data.test_subsample": None,
        "data.num_aug": 1,
    }
    run_pipeline("data_processing", params=params)
    test = load_inputs(tmp_path, "test_inputs")
    assert test["inputs"].shape == (20, 81)
    assert test["metadata"]["source"] == "huggingface"


@pytest.mark.slow
def test_kedro_viz_build_works_offline(kedro_project):
    completed = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=kedro_project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    graph = json.loads((kedro_project / "build" / "api" / "main").read_text())
    assert {"raw", "primary", "model_input", "models"} <= set(graph["layers"])
    node_names = {node["name"] for node in graph["nodes"]}
    assert "train_att" in node_names or any("train_att" in name for name in node_names)
