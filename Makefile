# Developer tasks. Needs only GNU make and Python 3.11 or newer; run `make help` for the list.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Written after a successful install, so the venv is rebuilt when pyproject.toml changes.
VENV_STAMP := $(VENV)/.install-stamp

.DEFAULT_GOAL := help
.PHONY: help venv test demo samples bench lint clean services services-stop services-status

help:
	@echo "Targets:"
	@echo "  venv     create $(VENV) with $(PYTHON) (3.11+) and install the package with its dev extra"
	@echo "  test     run the test suite with pytest (fails when no tests ran)"
	@echo "  demo     build the sample data, register the demo models, record the stream, simulate an A/B test and write the monitoring, A/B and image-with-report reports"
	@echo "  samples  rebuild the sample CSV files and copy the sample images into data_samples/images/"
	@echo "  bench    run every benchmarks/bench_*.py"
	@echo "  lint     run ruff check on the Python sources"
	@echo "  clean    remove $(VENV), .workbench and the executed notebooks under papermill_runs/"
	@echo "  services         install if needed and start RabbitMQ, Kafka and FerretDB on 127.0.0.1 (scripts/services/start.sh)"
	@echo "  services-stop    stop the servers that 'make services' started"
	@echo "  services-status  print each server's state and URL; fails when one is down"
	@echo "Variables: PYTHON=$(PYTHON) (interpreter used to create $(VENV))"

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: '$(PYTHON)' not found. Install Python 3.11 or newer, or run 'make PYTHON=/path/to/python3.11 venv'." >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
		echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), but 3.11 or newer is required." >&2; \
		echo "Run 'make PYTHON=/path/to/python3.11 venv'." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --upgrade pip
	$(VENV_PYTHON) -m pip install -e '.[dev]'
	@touch $(VENV_STAMP)

# pytest exits with 5 when it collected no tests; a run that tested nothing must not pass.
test: venv
	@status=0; $(VENV_PYTHON) -m pytest || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "error: pytest collected no tests, so no tests ran." >&2; \
		exit 1; \
	fi; \
	exit $$status

demo: venv
	$(VENV)/bin/workbench demo

samples: venv
	$(VENV_PYTHON) data_samples/build_samples.py

bench: venv
	@set -e; found=0; \
	for script in benchmarks/bench_*.py; do \
		[ -e "$$script" ] || continue; \
		found=1; \
		echo "== $$script"; \
		$(VENV_PYTHON) "$$script"; \
	done; \
	if [ $$found -eq 0 ]; then echo "No benchmarks/bench_*.py files found."; fi

lint: venv
	$(VENV)/bin/ruff check workbench tests benchmarks data_samples scripts

clean:
	rm -rf $(VENV) .workbench
	if [ -d papermill_runs ]; then find papermill_runs -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +; fi

# Integration-test servers; state and logs live in ${WORKBENCH_SERVICES_DIR:-~/.cache/workbench-services}.
services: venv
	scripts/services/start.sh all

services-stop:
	scripts/services/stop.sh all

services-status:
	scripts/services/status.sh all
