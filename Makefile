# One command each for a fresh machine with Python >= 3.10 and pip:
#   make demo   creates .venv, installs the project and runs the quick train -> evaluate -> export job
#   make test   creates the same .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# No telemetry, analytics or update checks from Kedro, MLflow or Gradio.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export GRADIO_ANALYTICS_ENABLED := False
export ORT_DISABLE_TELEMETRY := 1

.PHONY: install demo test lint browser clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

demo: install
	$(BIN)/kedro run --pipelines=train_mlp --env quick

# The browser test drives Debian's chromium; `make browser` installs it (needs root and apt).
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests app benchmarks
	$(BIN)/ruff format --check src tests app benchmarks

clean:
	rm -rf $(VENV) build .viz mlflow.db mlruns
