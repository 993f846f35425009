# IronPath: `make run` starts the whole system, `make test` runs every check.
# Generated protobuf code is built here into gen/ (not committed); every target that
# imports it depends on `gen`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.stamp

.PHONY: run test lint unit gen venv token bench clean fmt

run: $(GEN_STAMP)
	$(PY) -m deploy.local.supervisor $(if $(REPLICAS),--replicas $(REPLICAS),)

test: lint
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

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The repository's code roots go on the venv's import path (no package install step).
	$(PY) -c 'import pathlib, sys, sysconfig; root = sys.argv[1]; \
		paths = [root, root + "/libs", root + "/services", root + "/gen"]; \
		pathlib.Path(sysconfig.get_paths()["purelib"], "ironpath.pth").write_text("\n".join(paths) + "\n")' "$(CURDIR)"
	touch $@

gen: $(GEN_STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--python_out=gen --mypy_out=gen --grpc_python_out=gen $(PROTOS)
	touch $@

clean:
	rm -rf gen .pytest_cache .mypy_cache .ruff_cache
