# Keyport: `make run` starts the local stack, `make test` runs every test. Both install what they need.
# The venv is made with the Lambda runtime's Python (3.13, infra/template/names.py RUNTIME) where the machine has
# one, so the tests run on what AWS runs; otherwise with python3.
RUNTIME_PYTHON := $(shell for p in $(HOME)/.pyenv/versions/3.13*/bin/python3.13 python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { command -v "$$p"; break; }; done)
PYTHON ?= $(or $(RUNTIME_PYTHON),python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAGE ?= dev
PORT ?= 8000
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run test fuzz lint typecheck check package deploy bench clean e2e-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install ## Start the local stack on http://127.0.0.1:$(PORT) (Ctrl-C stops it)
	PORT=$(PORT) $(BIN)/python -m infra.local.stack

test: install e2e-deps ## Run the whole test suite
	$(BIN)/pytest

# The long fuzzing run: schemathesis over every operation of /openapi.json, every check, all phases, with and
# without the operator key, against the local stack; prints operations, test cases, failures and time.
# FUZZ_EXAMPLES (default 50) and FUZZ_SEED choose the size and the seed. `make test` runs a bounded version.
fuzz: install ## Fuzz every documented operation with schemathesis (long; FUZZ_EXAMPLES=50 FUZZ_SEED=...)
	$(BIN)/python -m tests.fuzz.harness

# The real clients the end-to-end tests drive: Debian's Chromium (installed when missing and root)
# and the npm packages of tests/e2e/*/ (pizzly-js, socket.io-client), each pinned by its lock file.
e2e-deps:
	@if [ "$${KEYPORT_SKIP_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	@for dir in tests/e2e/*/; do \
		if [ -f "$$dir/package-lock.json" ] && { [ ! -f "$$dir/node_modules/.package-lock.json" ] || \
			[ "$$dir/package-lock.json" -nt "$$dir/node_modules/.package-lock.json" ]; }; then \
			(cd "$$dir" && npm ci --no-audit --no-fund --loglevel=error); \
		fi; \
	done

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test package

package: install ## Build the CloudFormation template and Lambda zip for $(STAGE), and lint it (BYTECODE=0: without bytecode)
	PATH=$(abspath $(BIN)):$$PATH bash infra/package.sh $(STAGE)

deploy: install ## Deploy $(STAGE) to AWS: make deploy STAGE=prod BUCKET=my-artifacts SECRET_KEY=...
	PATH=$(abspath $(BIN)):$$PATH bash infra/deploy.sh $(STAGE) $(BUCKET)

bench: install ## Print cold-start and per-request figures
	$(BIN)/python -m bench.run

clean:
	rm -rf build .pytest_cache
