# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
# Both install uv from PyPI and sync the locked environment first, so a fresh clone needs only
# Python 3.11 and pip.
UV := python3 -m uv
RUN := $(UV) run --frozen

.PHONY: setup demo test lint dev emulator bench

setup:
	python3 -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
	$(UV) sync --frozen

demo: setup
	$(RUN) fal-platform demo

test: setup lint
	$(RUN) pytest

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

dev: setup
	$(RUN) fal-platform dev

emulator: setup
	$(RUN) fal-platform emulator --port 8787

bench: setup
	$(RUN) python -m benchmarks
