# IronPath: `make run` starts the whole system, `make test` runs every check.
# Generated protobuf code is built here into gen/ (not committed); every target that
# imports it depends on `gen`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.stamp

# The web app (web/): built and tested with Node.js when it is installed; without it `make run`
# serves the API alone and `make test` skips the browser part. npm's cache stays in the repo.
NPM := $(shell command -v npm 2>/dev/null)
NPM_ENV := npm_config_cache=$(CURDIR)/web/.npm-cache npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WEB_STAMP := web/node_modules/.installed
WEB_SOURCES := $(shell find web/src web/public -type f -not -path 'web/src/gen/*' 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/buf.gen.yaml
WEB_BUILD := $(if $(NPM),web-build,web-skip)
WEB_TEST := $(if $(NPM),web-test,web-skip)
CLI := $(VENV)/bin/ironpath

.PHONY: run test lint unit gen venv token bench clean fmt docs

run: $(GEN_STAMP) $(CLI) $(WEB_BUILD)
	$(PY) -m deploy.local.supervisor $(if $(REPLICAS),--replicas $(REPLICAS),)

test: lint $(CLI) $(WEB_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(GEN_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd protos && ../$(VENV)/bin/buf lint
	$(VENV)/bin/hadolint deploy/docker/Dockerfile

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# A development user token: make token USER=alice (plain `make token`: developer).
# Only a USER given on the command line counts; the shell's own $USER is ignored.
token: $(GEN_STAMP)
	@$(PY) -m deploy.local.mint_token $(if $(filter command line,$(origin USER)),$(USER),developer)

bench: $(GEN_STAMP)
	$(PY) -m bench

# docs/api.md from protos/ and the services' models (a test fails when it is stale).
docs: $(GEN_STAMP)
	$(PY) -m tools.gen_api_docs --out docs/api.md

venv: $(STAMP) $(CLI)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The repository's code roots go on the venv's import path (no package install step).
	$(PY) -c 'import pathlib, sys, sysconfig; root = sys.argv[1]; \
		paths = [root, root + "/libs", root + "/services", root + "/gen"]; \
		pathlib.Path(sysconfig.get_paths()["purelib"], "ironpath.pth").write_text("\n".join(paths) + "\n")' "$(CURDIR)"
	touch $@

# The `ironpath` command (ironpath_cli/), run by the venv's python from the checkout like the rest.
$(CLI): $(GEN_STAMP) ironpath_cli/__main__.py
	printf '#!%s\nimport runpy\nrunpy.run_module("ironpath_cli", run_name="__main__")\n' "$(abspath $(PY))" > $@
	chmod +x $@

.PHONY: web-build web-test web-skip

# npm ci (the lockfile's exact versions) once per lockfile change.
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && $(NPM_ENV) npm ci --no-audit --no-fund
	touch $@

# Buf codegen from protos/ into web/src/gen (not committed), type check, Vite build into web/dist.
web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES) $(PROTOS)
	cd web && $(NPM_ENV) npm run build

web-build: web/dist/index.html

# The offline queue's unit tests (Vitest); the browser tests run in pytest (tests/web) against the
# built app, in Debian's Chromium, installed here when missing.
web-test: web-build
	cd web && $(NPM_ENV) npm test
	bash web/tests/e2e/ensure-chromium.sh

web-skip:
	@echo "make: Node.js (npm) not found: skipping the web app (make run serves the API only; browser tests skip)"

gen: $(GEN_STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--python_out=gen --mypy_out=gen --grpc_python_out=gen $(PROTOS)
	touch $@

clean:
	rm -rf gen .pytest_cache .mypy_cache .ruff_cache
