# MisyBot Ops Assistant — every workflow the README and CI use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
RASA := $(BIN)/rasa
MODEL := models/misybot.tar.gz
TRAINING_INPUTS := config.yml $(shell find domain data components misybot/nlu -name '*.yml' -o -name '*.py' 2>/dev/null | sort)
ACTIONS_PORT ?= 5055
PERSONA ?=
REPLICAS ?= 1
RASA_PORT ?= 5005
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export RASA_TELEMETRY_ENABLED ?= false

.PHONY: help install train db worker shell run test test-unit test-stories test-nlu validate lint bench clean lock transcript

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## Create .venv (Python 3.10) with the locked dependencies; seconds when up to date
	@scripts/install.sh

$(MODEL): $(TRAINING_INPUTS) | install
	@mkdir -p models
	$(RASA) train --config config.yml --domain domain --data data --out models --fixed-model-name misybot
	@touch $(MODEL)

train: install $(MODEL) ## Train the model when config, domain or data changed

validate: install ## Check the training data and domain (warnings fail)
	$(BIN)/python scripts/validate.py --config config.yml --domain domain --data data --fail-on-warnings

db: install ## Migrate the database (MISYBOT_DATABASE_URL) and load the demo data once
	@$(BIN)/misybot db upgrade >/dev/null
	@$(BIN)/misybot demo seed --quiet

worker: install db ## Run an orchestrator worker (agent executions, recurring runs, pushed results)
	@$(BIN)/misybot worker

shell: install train db ## Talk to the assistant in the terminal as a demo user (PERSONA=hub…)
	@PERSONA=$(PERSONA) scripts/shell.sh

run: install train db ## Serve the assistant (REST channel) with the action server (REPLICAS=2…)
	@REPLICAS=$(REPLICAS) scripts/run.sh

test: install train validate ## The whole suite: unit, dialogue stories and the NLU evaluation
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-stories test-nlu

test-unit: install ## Unit tests only (no trained model needed)
	$(BIN)/pytest -m "not rasa_model"

test-stories: install train ## Test stories through the trained model (prediction errors fail)
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --out results/stories --fail-on-prediction-errors

test-nlu: install train ## Evaluate NLU on both held-out sets (demo, unseen company); thresholds
	$(BIN)/python scripts/evaluate_nlu.py --model $(MODEL) --data tests/nlu/test_data.yml \
	  --unseen tests/nlu/unseen_company.yml --out results/nlu

transcript: install train ## Regenerate docs/personas.md: three commands in every voice, from the real bot
	$(BIN)/python scripts/transcript.py --model $(MODEL) --out docs/personas.md

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install train ## Latency: agent, turn (with/without TED), queue, webhooks, mail, huge messages, catalogue, growth, replicas, idle
	$(BIN)/python bench/inventory_agent.py
	$(BIN)/python bench/turn.py --model $(MODEL) --with-ted
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/webhook.py --model $(MODEL)
	$(BIN)/python bench/meta_webhook.py --model $(MODEL)
	$(BIN)/python bench/mail_transport.py
	$(BIN)/python bench/abuse.py --model $(MODEL)
	$(BIN)/python bench/catalogue.py
	$(BIN)/python bench/growth.py --model $(MODEL) --stores misybot,rasa-sql
	$(BIN)/python bench/replicas.py --model $(MODEL) --database postgres
	$(BIN)/python bench/idle.py --model $(MODEL)
	$(BIN)/python bench/idle.py --model $(MODEL) --database postgres

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	@scripts/lock.sh

clean: ## Remove trained models, results and caches (keeps .venv)
	rm -rf models results .pytest_cache .ruff_cache
