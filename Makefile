# Eedi - Mining Misconceptions in Mathematics: a retrieve-then-rerank pipeline.
#
# Data flow, one script per arrow (read top to bottom):
#
#   DATA_DIR/{train,test,misconception_mapping}.csv     Kaggle's files (or the embedded sample)
#     -> reshape.py      RUN/{train,test}_long.parquet, RUN/misconceptions.parquet
#     -> make_folds.py   RUN/folds-<key>-<n>-<seed>.parquet        (make folds)
#     -> retrieve_*.py   RUN/rankings/{train,test}_<retriever>.parquet
#     -> evaluate.py     RUN/cv-*.json + table on stdout            (make evaluate)
#     -> make_submission.py  submissions/submission.csv             (make submission)
#
# Every ranking follows one contract (README): QuestionId_Answer, MisconceptionId, score, rank.
# Each target depends on its real inputs and on the code that makes it, so re-running skips
# finished work; each script writes to a temp file and renames it, so a killed step leaves no
# target that looks complete. Needs GNU Make >= 4.3 (grouped targets `&:`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
# Keep every file the pattern rules make (Make would delete "intermediate" ones).
.SECONDARY:
.DEFAULT_GOAL := help

# ---------------------------------------------------------------- configuration
# Override any of these on the command line: make evaluate DATA_DIR=../shared/eedi
KAGGLE_DIR  := data/kaggle
SAMPLE_DIR  := data/sample
# Kaggle's data when `make download` has fetched it, else the embedded sample.
DATA_DIR    ?= $(if $(wildcard $(KAGGLE_DIR)/train.csv),$(KAGGLE_DIR),$(SAMPLE_DIR))
SAMPLE_ARGS ?= --n-train 400 --n-test 60 --seed 0
FOLD_BY     ?= QuestionId
N_FOLDS     ?= 5
FOLD_SEED   ?= 42
RETRIEVER   ?= tfidf
TOP_K       ?= 100
# Rankings of train that `make evaluate` scores side by side.
EVALUATE    ?= $(RETRIEVER)
RUNS_ROOT   ?= data/runs
SUBMISSION  ?= submissions/submission.csv
PYTHON      ?= python3
PY          ?= .venv/bin/python
# Order-only prerequisite of every Python step; tests set SETUP= to use their own interpreter.
SETUP       ?= .venv/.installed
COMPETITION := eedi-mining-misconceptions-in-mathematics

# One folder of outputs per DATA_DIR (its name + a hash of its absolute path): switching
# DATA_DIR never reuses another dataset's outputs, and switching back reuses its own.
DATA_KEY := $(notdir $(abspath $(DATA_DIR)))-$(shell printf %s '$(abspath $(DATA_DIR))' | md5sum | cut -c1-8)
RUN      := $(RUNS_ROOT)/$(DATA_KEY)
# Every script appends its step, wall time and status here (scripts/common.py: step_timer).
export RUN_LOG := $(abspath $(RUN))/run_log.jsonl

RAW            := $(addprefix $(DATA_DIR)/,train.csv test.csv misconception_mapping.csv)
TRAIN_LONG     := $(RUN)/train_long.parquet
TEST_LONG      := $(RUN)/test_long.parquet
MISCONCEPTIONS := $(RUN)/misconceptions.parquet
FOLDS          := $(RUN)/folds-$(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED).parquet
CV_NAME        := $(RUN)/cv-$(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED)-$(subst $() ,+,$(EVALUATE))
COMMON         := scripts/common.py

# $(call config,NAME): a file holding $(NAME) that is rewritten only when the value changes, so
# a target depending on it rebuilds when e.g. TOP_K changes, and only then.
config = $(RUN)/config/$(1)
$(RUN)/config/%: FORCE
	@mkdir -p $(@D); printf '%s\n' '$($*)' | cmp -s - $@ || printf '%s\n' '$($*)' > $@
FORCE:

# ---------------------------------------------------------------- top-level targets
.PHONY: help all setup setup-gpu download sample reshape folds retrieve evaluate submission test clean FORCE

help:  ## list the targets (this)
	@echo "usage: make TARGET [DATA_DIR=dir] [RETRIEVER=tfidf] [FOLD_BY=QuestionId] ..."
	@grep -E '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
	@echo "data: $(DATA_DIR)  ->  outputs: $(RUN)"

all: evaluate submission  ## the whole pipeline: setup, data, CV table, submission.csv

setup: .venv/.installed  ## create .venv from the pinned requirements (once)

setup-gpu: .venv/.installed  ## add the CUDA-only extras (bitsandbytes) to .venv
	.venv/bin/pip install -r requirements-gpu.txt

download:  ## fetch Kaggle's CSVs into data/kaggle (needs Kaggle credentials)
	$(PY) scripts/download_data.py --competition $(COMPETITION) --out-dir $(KAGGLE_DIR)

sample: $(SAMPLE_DIR)/train.csv  ## generate the embedded sample data (SAMPLE_ARGS sets its size)

reshape: $(TRAIN_LONG)  ## wide CSVs -> one row per (question, wrong answer)

folds: $(FOLDS)  ## assign CV folds grouped by FOLD_BY; print fold sizes and unseen counts
	@cat $(FOLDS:.parquet=.txt)

retrieve: $(RUN)/rankings/train_$(RETRIEVER).parquet $(RUN)/rankings/test_$(RETRIEVER).parquet  ## rank misconceptions for train and test with RETRIEVER

evaluate: $(CV_NAME).json  ## CV MAP@25 and recall@K of each ranking in EVALUATE, per fold, seen/unseen
	@cat $(CV_NAME).txt

submission: $(RUN)/submission_$(RETRIEVER).csv  ## write submissions/submission.csv for DATA_DIR/test.csv
	@mkdir -p $(dir $(SUBMISSION))
	@cp $< $(SUBMISSION).tmp && mv $(SUBMISSION).tmp $(SUBMISSION)
	@echo "wrote $(SUBMISSION) for $(DATA_DIR)/test.csv (retriever: $(RETRIEVER))"

test: | $(SETUP)  ## run the test suite
	$(PY) -m pytest -q tests

print-%:  ## print a variable, e.g. make print-RUN DATA_DIR=../shared/eedi
	@echo '$($*)'

clean:  ## delete generated outputs (keeps .venv and data/kaggle)
	rm -rf $(RUNS_ROOT) $(SAMPLE_DIR) submissions/*.csv

# ---------------------------------------------------------------- setup and data
.venv/.installed: requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install -r requirements.txt
	.venv/bin/pip install --no-deps -r requirements-nodeps.txt
	touch $@

$(addprefix $(SAMPLE_DIR)/,train.csv test.csv misconception_mapping.csv sample_submission.csv test_labels.csv) &: scripts/make_sample.py $(COMMON) | $(SETUP)
	@echo "No Kaggle data in $(KAGGLE_DIR): generating the embedded sample in $(SAMPLE_DIR) (make download fetches the real data)." >&2
	$(PY) scripts/make_sample.py --out-dir $(SAMPLE_DIR) $(SAMPLE_ARGS)

# Any other missing input CSV: say where the data should be (explicit rules above win).
$(DATA_DIR)/%.csv:
	@echo "error: $@ not found. Put Kaggle's train.csv, test.csv and misconception_mapping.csv in $(DATA_DIR), or run make download." >&2
	@exit 1

# ---------------------------------------------------------------- pipeline steps
$(TRAIN_LONG) $(TEST_LONG) $(MISCONCEPTIONS) &: $(RAW) scripts/reshape.py $(COMMON) | $(SETUP)
	@if [ "$(DATA_DIR)" = "$(SAMPLE_DIR)" ]; then echo "Running on the embedded sample ($(SAMPLE_DIR)), not Kaggle's data." >&2; fi
	$(PY) scripts/reshape.py --data-dir $(DATA_DIR) --out-dir $(RUN)

$(FOLDS) $(FOLDS:.parquet=.txt) &: $(TRAIN_LONG) scripts/make_folds.py $(COMMON) | $(SETUP)
	$(PY) scripts/make_folds.py --train $(TRAIN_LONG) --by $(FOLD_BY) --n-folds $(N_FOLDS) \
	  --seed $(FOLD_SEED) --out $(FOLDS) --report $(FOLDS:.parquet=.txt)

# TF-IDF uses no labels: one ranking of all train rows is already out-of-fold.
$(RUN)/rankings/%_tfidf.parquet: $(RUN)/%_long.parquet $(MISCONCEPTIONS) $(call config,TOP_K) scripts/retrieve_tfidf.py $(COMMON) | $(SETUP)
	$(PY) scripts/retrieve_tfidf.py --queries $< --misconceptions $(MISCONCEPTIONS) \
	  --top-k $(TOP_K) --out $@

$(CV_NAME).json $(CV_NAME).txt &: $(TRAIN_LONG) $(FOLDS) $(foreach r,$(EVALUATE),$(RUN)/rankings/train_$(r).parquet) scripts/evaluate.py $(COMMON) | $(SETUP)
	$(PY) scripts/evaluate.py --train $(TRAIN_LONG) --folds $(FOLDS) \
	  $(foreach r,$(EVALUATE),--ranking $(r)=$(RUN)/rankings/train_$(r).parquet) \
	  --out-json $(CV_NAME).json --out-table $(CV_NAME).txt > /dev/null

$(RUN)/submission_%.csv: $(RUN)/rankings/test_%.parquet $(DATA_DIR)/test.csv $(DATA_DIR)/misconception_mapping.csv scripts/make_submission.py $(COMMON) | $(SETUP)
	@if [ "$(DATA_DIR)" = "$(SAMPLE_DIR)" ]; then echo "Note: this submission is for the embedded sample's test.csv." >&2; fi
	$(PY) scripts/make_submission.py --ranking $< --test-csv $(DATA_DIR)/test.csv \
	  --mapping $(DATA_DIR)/misconception_mapping.csv --out $@
