# Parley: `make up` runs the whole system embedded; `make test` runs every test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB_SOURCES := $(shell find web/app web/components web/lib web/public -type f 2>/dev/null) \
	$(wildcard web/*.ts web/*.mjs web/*.js web/*.json)

API_TYPES := lib/api-types.gen.ts
SOCKET_TYPES := lib/socket-types.gen.ts

export NEXT_TELEMETRY_DISABLED := 1

.PHONY: up test install dev web lint typecheck format migrate test-python test-web clean api-types

up: install web
	$(BIN)/parley up

test: dev web lint typecheck test-web test-python

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Parley needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

install: $(VENV)/.installed

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

dev: $(VENV)/.dev-installed

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/out/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build
	@touch $@

web: web/out/index.html

lint: dev web/node_modules/.package-lock.json
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	cd web && npm run lint
	@# The committed API types must match what the server's OpenAPI document generates today.
	$(BIN)/python -m parley.web.openapi | (cd web && npx --no-install openapi-typescript --check -o $(API_TYPES)) \
		|| { echo "web/$(API_TYPES) is stale: run make api-types"; exit 1; }
	@# The same for the Socket.IO event types and the chat service's /asyncapi.json.
	$(BIN)/python -m parley.chat.realtime.asyncapi --typescript-input \
		| (cd web && npx --no-install openapi-typescript --check -o $(SOCKET_TYPES)) \
		|| { echo "web/$(SOCKET_TYPES) is stale: run make api-types"; exit 1; }

# The web app's HTTP types, generated from the merged /openapi.json of `parley up`, and its
# Socket.IO event types, from the chat service's /asyncapi.json (both committed).
api-types: dev web/node_modules/.package-lock.json
	$(BIN)/python -m parley.web.openapi | (cd web && npx --no-install openapi-typescript -o $(API_TYPES))
	$(BIN)/python -m parley.chat.realtime.asyncapi --typescript-input \
		| (cd web && npx --no-install openapi-typescript -o $(SOCKET_TYPES))

format: dev web/node_modules/.package-lock.json
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests
	cd web && npm run format

typecheck: dev
	$(BIN)/mypy

test-web: web
	cd web && npm test

# Two pytest-xdist workers (tests/fixtures/scheduling.py shares the files out), then, alone, the
# tests that disturb shared services for everyone (marked serial). A plain `pytest` runs everything
# in one process.
PYTEST_WORKERS ?= 2

test-python: dev web
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not serial"
	$(BIN)/pytest -m serial

migrate: install
	$(BIN)/parley migrate user
	$(BIN)/parley migrate chat

clean:
	rm -rf $(VENV) web/node_modules web/out web/.next .parley
