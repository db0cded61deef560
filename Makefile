# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
# Both install uv from PyPI and sync the locked environment first, so a fresh clone needs only
# Python 3.11 and pip; `make test` also installs the browser test's chromium (apt) and
# playwright-core (npm), see `browser` below, and Debian's postgresql for the Postgres tests.
UV := python3 -m uv
RUN := $(UV) run --frozen

.PHONY: setup demo test lint dev emulator bench browser postgres redis

# --compile-bytecode: every package's .pyc is written once here. Without it each process compiles
# dagster, dlt and the rest from source on import whenever Python may not write bytecode
# (PYTHONDONTWRITEBYTECODE, as on our CI machine): `import fal_platform.definitions` took ~8 s
# instead of ~3.5 s, in every run worker, code server and test process. Costs ~30 s once per venv.
setup:
	python3 -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
	$(UV) sync --frozen --compile-bytecode

demo: setup
	$(RUN) fal-platform demo

# Two workers, one test file each at a time (a file's module fixtures stay in one process): most
# tests wait on servers and runs, so two of them share the two cores well.
test: setup lint browser postgres redis
	$(RUN) pytest -n 2 --dist loadfile

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

# The browser test (tests/test_ui_browser.py) and scripts/screenshots.py drive Debian's chromium
# with Playwright's driver, `playwright-core` (pinned in tests/browser/package-lock.json; it has
# no bundled browser and no install script, so nothing is downloaded at run time). Both are file
# targets: once installed, this does nothing and prints nothing.
CHROMIUM := /usr/bin/chromium
BROWSER_DIR := tests/browser
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: $(CHROMIUM) $(BROWSER_DIR)/node_modules/.package-lock.json

$(CHROMIUM):
	@echo "installing Debian's chromium (apt-get)"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

# npm ci writes node_modules/.package-lock.json, so a changed lock file re-installs.
# Node.js and npm come from Debian too when the machine has none (playwright-core needs Node 18+).
$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "installing Debian's nodejs and npm (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(BROWSER_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# The Postgres tests (tests/support/postgres_server.py) start a throw-away cluster from Debian's
# server binaries (fal_platform/devstack/postgres.py); installed with apt only when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

# The Celery tests (tests/test_deploy_celery.py) and `fal-platform dev --stack` start a throw-away
# Redis as the broker (fal_platform/devstack/redis.py); Debian's redis-server, only when missing.
redis:
	@command -v redis-server >/dev/null || { \
	  echo "installing Debian's redis-server (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
