# Eedi - Mining Misconceptions in Mathematics: a retrieve-then-rerank pipeline.
#
# Data flow, one script per arrow (read top to bottom):
#
#   DATA_DIR/{train,test,misconception_mapping}.csv     Kaggle's files (or the embedded sample)
#     -> reshape.py      RUN/{train,test}_long.parquet, RUN/misconceptions.parquet
#     -> make_folds.py   RUN/folds-<key>-<n>-<seed>.parquet        (make folds)
#     -> retrieve_tfidf.py   RUN/rankings/{train,test}_tfidf.parquet
#     -> retrieve_embed.py   RUN/rankings/{train,test}_<model>-zs.parquet     (zero-shot)
#     -> train_retriever.py  models/<dataset>/<model>/<cv>/fold<k>/, .../all/  (make train-retriever)
#     -> retrieve_embed.py   RUN/rankings/train_<model>-ft.parquet (out-of-fold), test_<model>-ft
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
# Retriever to fine-tune: a registry name (scripts/registry.py: minilm, bge-large, e5-mistral,
# qwen14b-emb) or an HF id / local folder.
MODEL       ?= minilm
# The ranking the submission is made from: tfidf, <model>-zs (zero-shot), <model>-ft (fine-tuned).
RETRIEVER   ?= $(MODEL)-ft
TOP_K       ?= 100
# Rankings of train that `make evaluate` scores side by side.
EVALUATE    ?= tfidf $(MODEL)-zs $(MODEL)-ft
# Fine-tuning settings passed to train_retriever.py; empty = the registry's. The embedded
# sample trains 1 epoch so the demo stays short; real data gets the registry's settings.
TRAIN_ARGS  ?= $(if $(filter $(SAMPLE_DIR),$(DATA_DIR)),--epochs 1)
# Hard negatives for fine-tuning are mined from this ranking of train, in this window of ranks.
NEGATIVES   ?= zs
NEGATIVE_ARGS ?= --negative-ranks 1:50
RUNS_ROOT   ?= data/runs
MODELS_ROOT ?= models
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
MODELS   := $(MODELS_ROOT)/$(DATA_KEY)
# Every script appends its step, wall time and status here (scripts/common.py: step_timer).
export RUN_LOG := $(abspath $(RUN))/run_log.jsonl

RAW            := $(addprefix $(DATA_DIR)/,train.csv test.csv misconception_mapping.csv)
TRAIN_LONG     := $(RUN)/train_long.parquet
TEST_LONG      := $(RUN)/test_long.parquet
MISCONCEPTIONS := $(RUN)/misconceptions.parquet
FOLDS          := $(RUN)/folds-$(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED).parquet
CV_TAG         := $(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED)
FOLD_IDS       := $(shell seq 0 $$(($(N_FOLDS) - 1)))
CV_NAME        := $(RUN)/cv-$(CV_TAG)-$(subst $() ,+,$(EVALUATE))
COMMON         := scripts/common.py
EMBED_CODE     := scripts/retrieve_embed.py scripts/embedding.py scripts/registry.py $(COMMON)
TRAIN_CODE     := scripts/train_retriever.py scripts/embedding.py scripts/registry.py $(COMMON)

# $(call config,NAME): a file holding $(NAME) that is rewritten only when the value changes, so
# a target depending on it rebuilds when e.g. TOP_K changes, and only then.
config = $(RUN)/config/$(1)
$(RUN)/config/%: FORCE
	@mkdir -p $(@D); printf '%s\n' '$($*)' | cmp -s - $@ || printf '%s\n' '$($*)' > $@
FORCE:

# ---------------------------------------------------------------- top-level targets
.PHONY: help all setup setup-gpu download sample reshape folds retrieve train-retriever cv evaluate submission bench-retriever test clean FORCE

help:  ## list the targets (this)
	@echo "usage: make TARGET [DATA_DIR=dir] [RETRIEVER=tfidf] [FOLD_BY=QuestionId] ..."
	@grep -E '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
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

train-retriever: $(if $(FOLD),$(MODELS)/$(MODEL)/$(CV_TAG)/fold$(FOLD)/train.json,$(foreach k,$(FOLD_IDS),$(MODELS)/$(MODEL)/$(CV_TAG)/fold$(k)/train.json) $(MODELS)/$(MODEL)/all/train.json)  ## fine-tune MODEL: one per fold + one on all train (FOLD=k: just that fold)

evaluate: $(CV_NAME).json  ## CV MAP@25 and recall@K of each ranking in EVALUATE, per fold, seen/unseen
	@cat $(CV_NAME).txt

cv: evaluate  ## the same as evaluate: build every out-of-fold ranking in EVALUATE and score it

submission: $(RUN)/submission_$(RETRIEVER).csv  ## write submissions/submission.csv for DATA_DIR/test.csv
	@mkdir -p $(dir $(SUBMISSION))
	@cp $< $(SUBMISSION).tmp && mv $(SUBMISSION).tmp $(SUBMISSION)
	@echo "wrote $(SUBMISSION) for $(DATA_DIR)/test.csv (retriever: $(RETRIEVER))"

bench-retriever: $(TRAIN_LONG) $(MISCONCEPTIONS) | $(SETUP)  ## encode and training throughput of MODEL on this machine
	$(PY) scripts/bench_retriever.py --model $(MODEL) --train $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS)

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

# Embedding retrievers. Zero-shot: the model as it is; it saw no labels, so ranking all of train
# with it is already out-of-fold.
$(RUN)/rankings/train_%-zs.parquet: $(TRAIN_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(EMBED_CODE) | $(SETUP)
	$(PY) scripts/retrieve_embed.py --model $* --queries $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --top-k $(TOP_K) --out $@
$(RUN)/rankings/test_%-zs.parquet: $(TEST_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(EMBED_CODE) | $(SETUP)
	$(PY) scripts/retrieve_embed.py --model $* --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --top-k $(TOP_K) --out $@

# Fine-tuned: one model per fold, trained on the other folds, ranks that fold (out-of-fold CV);
# one model trained on all of train ranks test. Hard negatives come from the model's own
# zero-shot ranking of train. A killed training resumes from its last checkpoint on re-run.
define fold_model_rule
$(MODELS)/%/$(CV_TAG)/fold$(1)/train.json: $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(RUN)/rankings/train_%-$(NEGATIVES).parquet $(call config,TRAIN_ARGS) $(call config,NEGATIVE_ARGS) $(TRAIN_CODE) | $(SETUP)
	$(PY) scripts/train_retriever.py --model $$* --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --folds $(FOLDS) --fold $(1) \
	  --negatives $(RUN)/rankings/train_$$*-$(NEGATIVES).parquet $(NEGATIVE_ARGS) $(TRAIN_ARGS) --out $$(@D)
endef
$(foreach k,$(FOLD_IDS),$(eval $(call fold_model_rule,$(k))))

$(MODELS)/%/all/train.json: $(TRAIN_LONG) $(MISCONCEPTIONS) $(RUN)/rankings/train_%-$(NEGATIVES).parquet $(call config,TRAIN_ARGS) $(call config,NEGATIVE_ARGS) $(TRAIN_CODE) | $(SETUP)
	$(PY) scripts/train_retriever.py --model $* --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --negatives $(RUN)/rankings/train_$*-$(NEGATIVES).parquet \
	  $(NEGATIVE_ARGS) $(TRAIN_ARGS) --out $(@D)

$(RUN)/rankings/train_%-ft.parquet: $(foreach k,$(FOLD_IDS),$(MODELS)/%/$(CV_TAG)/fold$(k)/train.json) $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call config,TOP_K) $(EMBED_CODE) | $(SETUP)
	$(PY) scripts/retrieve_embed.py --model '$(MODELS)/$*/$(CV_TAG)/fold{fold}' --folds $(FOLDS) \
	  --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) --top-k $(TOP_K) --out $@
$(RUN)/rankings/test_%-ft.parquet: $(MODELS)/%/all/train.json $(TEST_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(EMBED_CODE) | $(SETUP)
	$(PY) scripts/retrieve_embed.py --model $(MODELS)/$*/all --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --top-k $(TOP_K) --out $@

$(CV_NAME).json $(CV_NAME).txt &: $(TRAIN_LONG) $(FOLDS) $(foreach r,$(EVALUATE),$(RUN)/rankings/train_$(r).parquet) scripts/evaluate.py $(COMMON) | $(SETUP)
	$(PY) scripts/evaluate.py --train $(TRAIN_LONG) --folds $(FOLDS) \
	  $(foreach r,$(EVALUATE),--ranking $(r)=$(RUN)/rankings/train_$(r).parquet) \
	  $(foreach r,$(filter %-ft,$(EVALUATE)),--trained $(r)='$(MODELS)/$(r:-ft=)/$(CV_TAG)/fold{fold}') \
	  --out-json $(CV_NAME).json --out-table $(CV_NAME).txt > /dev/null

$(RUN)/submission_%.csv: $(RUN)/rankings/test_%.parquet $(DATA_DIR)/test.csv $(DATA_DIR)/misconception_mapping.csv scripts/make_submission.py $(COMMON) | $(SETUP)
	@if [ "$(DATA_DIR)" = "$(SAMPLE_DIR)" ]; then echo "Note: this submission is for the embedded sample's test.csv." >&2; fi
	$(PY) scripts/make_submission.py --ranking $< --test-csv $(DATA_DIR)/test.csv \
	  --mapping $(DATA_DIR)/misconception_mapping.csv --out $@
