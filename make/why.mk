# make why [GOAL...]: for each step that `make GOAL` would run (default: all), why it would:
#   never made | settings changed: NAME 'old' -> 'new' | code changed: FILE | input changed:
#   FILE | input will be remade: FILE
# make accept [GOAL...]: take the changes that would rerun GOAL's steps as made, without
#   running them (a refactor known to be safe; like `dvc commit`): each such step's manifest is
#   recorded anew. Steps never made are left to run.
# Read by the Makefile instead of the pipeline when one of these goals is typed: the goals
# beside it name what to explain and do not run. Both ask the pipeline itself (a dry run,
# with the same settings) what would run: make -n --trace.
SHELL   := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON  ?= python3
RUNS_ROOT ?= data/runs
FRESH    = $(PYTHON) make/freshness.py --cache $(RUNS_ROOT)/.digests.json
WHY_GOALS := $(or $(filter-out why accept,$(MAKECMDGOALS)),all)
# the run's folders, as the pipeline names them under these settings
pipeline = $(MAKE) --no-print-directory -f Makefile $(1)
.PHONY: why accept $(WHY_GOALS)
why accept:  ## why each step of GOAL would run (make why evaluate) / take its changes as made
	@roots="$$($(call pipeline,-s print-FRESH_ROOTS))"; \
	  trace=$$(mktemp); trap 'rm -f $$trace' EXIT; \
	  $(call pipeline,-n --trace $(WHY_GOALS)) > $$trace 2>&1 || { cat $$trace >&2; exit 1; }; \
	  $(FRESH) $@ $$roots --trace $$trace --keys $$($(call pipeline,-s print-RUN))/keys
$(filter-out why accept,$(WHY_GOALS)):
	@:
