# regops.registry: developer and CI entry points. Everything runs from a fresh Debian 12 machine.
#   make demo   install and start what is needed, then run the main job on this machine
#   make test   install and start what is needed, then run every test (unit, integration, sanity, lint)
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: setup demo test unit integration quality sanity lint build clean bench bench-retention docs

setup:
	scripts/setup.sh

demo: setup
	python scripts/demo.py

test: setup
	python -m pytest $(PYTEST_ARGS) tests

unit:
	python -m pytest $(PYTEST_ARGS) tests/unit

integration:
	python -m pytest $(PYTEST_ARGS) tests/integration

quality:
	python -m pytest $(PYTEST_ARGS) tests/quality

sanity:
	python -m pytest $(PYTEST_ARGS) tests/quality -k sanity

lint:
	python -m pytest $(PYTEST_ARGS) tests/quality -k lint

build:
	ansible-galaxy collection build --force

docs:
	python scripts/role_docs.py

clean:
	rm -rf .cache .pytest_cache .hypothesis regops-registry-*.tar.gz
	-docker ps -aq --filter label=io.regops.test=1 | xargs -r docker rm -f -v

bench: setup
	python benchmarks/suite.py

bench-retention: setup
	python benchmarks/retention_plan.py
