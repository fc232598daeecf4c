# The Kaggle side of the pipeline, included by the Makefile (its variables and rules are in
# scope): the offline notebook (make kernel, rehearsed here by make kernel-local, timed by make
# budget) and the targets that publish weights, code, wheels and plan as datasets, push the
# notebook and submit it. Scripts: scripts/kaggle/; library: scripts/eedi/kaggle/.

# ---------------------------------------------------------------- configuration
# make push-weights: the model folder it publishes (default: the reranker's, or the embedder's
# when RERANKER=none; make quantize prints its folder's), the Kaggle dataset (slug or user/slug;
# default eedi-<folder name>); DRY_RUN=1 stages it and prints the command without uploading.
MODEL_DIR   ?= $(if $(filter none,$(RERANKER)),$(MODELS)/$(EMBEDDER_ID),$(RERANKER_DIR))
DATASET     ?=
DRY_RUN     ?=
# make kernel: the Kaggle inference notebook (KERNEL_DIR is rebuilt whole). KERNEL_USER /
# KERNEL_ID=user/slug name it (default: the Kaggle credentials' user, slug of KERNEL_TITLE);
# *_DATASET are the datasets it attaches (SLUG or USER/SLUG); KERNEL_BUDGET_S is the time
# guard's budget (empty: 9 h - 45 min); KERNEL_TIMINGS=$(RUN)/run_log.jsonl takes per-row
# seconds from a local run instead of the stated T4 defaults; RERANKER_KAGGLE_MODEL is the
# reranker's base on Kaggle Models (owner/model/framework/variation/version).
KERNEL_DIR     ?= submissions/kernel
KERNEL_USER    ?=
KERNEL_ID      ?=
KERNEL_TITLE   ?= Eedi inference
CODE_DATASET   ?= eedi-code
WHEELS_DATASET ?= eedi-wheels
PLAN_DATASET   ?= eedi-plan
KERNEL_BUDGET_S ?=
KERNEL_TIMINGS ?=
KERNEL_LAYOUT  ?= new
# GPUs of the machine the notebook runs on (Kaggle's 2x T4), not this one's GPUS: the reranker
# runs 2 / its tensor parallel size copies there (qwen32b: one over both T4s; qwen14b: one
# per T4), and each embedder one copy per T4.
KERNEL_GPUS    ?= 2
RERANKER_KAGGLE_MODEL ?=
# Kaggle's image here (make kernel-local KAGGLE_IMAGE=1, make wheels; see "Kaggle's image, here"
# below): its pins, the staged wheels dataset, the image's Python (pyenv's where found),
# make image-pins' FREEZE and SOURCE.
KAGGLE_IMAGE      ?=
KAGGLE_IMAGE_PINS := constraints-kaggle-image.txt
WHEELS_DIR        ?= submissions/wheels.dataset
KAGGLE_PY_MINOR    = $(shell sed -n 's/^# python: \([0-9]*\.[0-9]*\).*/\1/p' $(KAGGLE_IMAGE_PINS))
KAGGLE_PYTHON     ?= $(shell for p in python$(KAGGLE_PY_MINOR) $$(pyenv root 2>/dev/null)/versions/$(KAGGLE_PY_MINOR).*/bin/python$(KAGGLE_PY_MINOR); do \
  $$p -c '' 2>/dev/null && { echo $$p; break; }; done)
FREEZE          ?=
SOURCE          ?=
# ENGINE=vllm on Kaggle: the vLLM version, its staged wheels and their dataset.
VLLM_KAGGLE       ?= 0.19.1
VLLM_WHEELS_DIR   ?= submissions/vllm-wheels.dataset
VLLM_WHEELS_DATASET ?= eedi-vllm-wheels

# ---------------------------------------------------------------- the notebook
.PHONY: kernel kernel-local budget budget-t4 push-weights
# The notebook for Kaggle: built after the local submission, so every model and JSON the plan
# names exists (and kernel-local has a submission to equal).
kernel: $(RUN)/submission_$(FINAL).csv $(call code,kaggle/make_kernel) $(call code,kaggle/infer) | $(SETUP)  ## build KERNEL_DIR: the offline Kaggle notebook for FINAL, kernel-metadata.json, plan/
	$(PY) scripts/kaggle/make_kernel.py --final $(FINAL) --reranker $(RERANKER) $(if $(TOP_K),--top-k $(TOP_K)) \
	  $(if $(TOP_N),--top-n $(TOP_N)) --engine $(ENGINE) --gpus $(KERNEL_GPUS) --run-dir $(RUN) --models-dir $(MODELS) \
	  --out-dir $(KERNEL_DIR) $(if $(KERNEL_ID),--kernel-id $(KERNEL_ID)) $(if $(KERNEL_USER),--user $(KERNEL_USER)) \
	  --title '$(KERNEL_TITLE)' --code-dataset $(CODE_DATASET) --wheels-dataset $(WHEELS_DATASET) \
	  --plan-dataset $(PLAN_DATASET) $(if $(KERNEL_BUDGET_S),--budget-s $(KERNEL_BUDGET_S)) \
	  $(if $(KERNEL_TIMINGS),--timings $(KERNEL_TIMINGS)) $(if $(RERANKER_KAGGLE_MODEL),--kaggle-model $(RERANKER_KAGGLE_MODEL)) \
	  $(if $(TENSOR_PARALLEL),--tensor-parallel $(TENSOR_PARALLEL)) \
	  $(if $(filter vllm,$(ENGINE)),--vllm-wheels $(VLLM_WHEELS_DIR) --vllm-wheels-dataset $(VLLM_WHEELS_DATASET))

# make budget: the notebook's projected time per stage on the hidden test (HIDDEN_TEST_ROWS:
# empty = the assumed 5,600 of eedi/kaggle/time_budget.py), from this machine's run log or
# GPU_TIMINGS (a JSON {stage: {fixed_s, per_row_s}} you fill after one run on the target GPU).
HIDDEN_TEST_ROWS ?=
GPU_TIMINGS    ?=
budget: kernel | $(SETUP)  ## projected notebook time per stage on the hidden test vs the 9 h limit; the largest TOP_N that fits
	$(PY) scripts/kaggle/budget.py --plan $(KERNEL_DIR)/plan/kernel.json --run-log $(RUN_LOG) \
	  $(if $(HIDDEN_TEST_ROWS),--test-rows $(HIDDEN_TEST_ROWS)) $(if $(GPU_TIMINGS),--gpu-timings $(GPU_TIMINGS)) \
	  $(if $(TOP_N),--top-n $(TOP_N))

# make budget-t4: 14B/32B/72B rerankers at 4-bit on 2x T4, projected from this data's prompts
# (TOP_N, default 25, of RETRIEVED's candidates) and the T4's datasheet (eedi/kaggle/t4.py);
# MODEL=<listwise reranker> (qwen32b-list): its windows' prompts instead of the pointwise one.
budget-t4: $(TRAIN_LONG) $(MISCONCEPTIONS) $(RUN)/rankings/train_$(RETRIEVED).parquet | $(SETUP)  ## 14B/32B/72B rerankers on Kaggle's 2x T4: hours at TOP_N and the largest TOP_N that fits
	$(PY) scripts/kaggle/t4_budget.py --queries $(TRAIN_LONG) --misconceptions $(MISCONCEPTIONS) \
	  --ranking $(RUN)/rankings/train_$(RETRIEVED).parquet $(if $(TOP_N),--top-n $(TOP_N)) \
	  $(if $(HIDDEN_TEST_ROWS),--rows $(HIDDEN_TEST_ROWS)) $(if $(filter none,$(RERANKER)),,--reranker $(RERANKER))

kernel-local: kernel $(if $(KAGGLE_IMAGE),$(WHEELS_DIR)/requirements-kaggle.txt .venv-kaggle/.installed)  ## run KERNEL_DIR's notebook here, offline, in a simulated /kaggle tree -> KERNEL_DIR/submission.csv (KAGGLE_IMAGE=1: in Kaggle's package set)
	$(PY) scripts/kaggle/rehearse_kernel.py --kernel-dir $(KERNEL_DIR) --data-dir $(DATA_DIR) \
	  --models-dir $(MODELS) --layout $(KERNEL_LAYOUT) --out $(KERNEL_DIR)/submission.csv \
	  $(if $(KAGGLE_IMAGE),--wheels $(WHEELS_DIR) --wheels-dataset $(WHEELS_DATASET) --image-venv .venv-kaggle)
	@echo "wrote $(KERNEL_DIR)/submission.csv (the notebook's; make submission writes $(SUBMISSION))"

# Never trains: pushing must not start hours of training; it publishes what is complete.
push-weights: | $(SETUP)  ## upload MODEL_DIR's weights (folds + all) and CV as a Kaggle dataset (MODEL=, DATASET=, DRY_RUN=1)
	$(PY) scripts/kaggle/push_weights.py --model-dir $(MODEL_DIR) --cv-tag $(CV_TAG) \
	  $(foreach f,$(wildcard $(RUN)/cv-$(CV_TAG)-*.json),--cv-json $(f)) \
	  $(if $(DATASET),--dataset $(DATASET)) $(if $(DRY_RUN),--dry-run)

# ---------------------------------------------------------------- Kaggle's image, here
# constraints-kaggle-image.txt pins Kaggle's GPU image (its Python, glibc and every package's
# version; make image-pins rewrites it from a pip freeze). .venv-kaggle holds what the notebook
# takes from the image (requirements-kaggle-image.txt) at those versions, on the image's Python
# where this machine has it (pyenv's), else on python3 with a warning; torch is the image's
# CUDA build, run on the CPU. make wheels stages requirements-kaggle.txt's wheels for the image
# and resolves them offline in .venv-kaggle (pip --dry-run --no-index, the image pinned): a
# dependency neither shipped nor in the image stops it. make kernel-local KAGGLE_IMAGE=1 runs the
# notebook over .venv-kaggle with those wheels attached, installed by its own install cell.
.PHONY: wheels image-pins

.venv-kaggle/.installed: $(KAGGLE_IMAGE_PINS) requirements-kaggle-image.txt
	@$(if $(KAGGLE_PYTHON),:,echo "warning: no Python $(KAGGLE_PY_MINOR) here (Kaggle's): .venv-kaggle uses $(PYTHON) (KAGGLE_PYTHON= names another)" >&2)
	rm -rf .venv-kaggle
	$(or $(KAGGLE_PYTHON),$(PYTHON)) -m venv .venv-kaggle
	.venv-kaggle/bin/pip install -c $(KAGGLE_IMAGE_PINS) -r requirements-kaggle-image.txt
	.venv-kaggle/bin/python -c "import sys, pandas, torch; print('.venv-kaggle: Python', sys.version.split()[0], 'pandas', pandas.__version__, 'torch', torch.__version__)"
	touch $@

$(WHEELS_DIR)/requirements-kaggle.txt: requirements-kaggle.txt $(KAGGLE_IMAGE_PINS) $(call code,kaggle/push_wheels) .venv-kaggle/.installed | $(SETUP)
	$(PY) scripts/kaggle/push_wheels.py --stage-only --staging $(WHEELS_DIR) --check-with .venv-kaggle/bin/python

wheels: $(WHEELS_DIR)/requirements-kaggle.txt  ## stage requirements-kaggle.txt's wheels for Kaggle's image in WHEELS_DIR and resolve them offline against it

# vLLM for the notebook (ENGINE=vllm): Kaggle's image has none. requirements-vllm-kaggle.txt is
# vLLM VLLM_KAGGLE's lock for the image (make vllm-lock: pip's resolver, online, metadata only;
# torch and its CUDA stack held at the image's, the notebook's wheels at theirs); make
# vllm-wheels stages its wheels and resolves them offline in .venv-kaggle with the notebook's.
.PHONY: vllm-lock vllm-wheels push-vllm-wheels

vllm-lock: .venv-kaggle/.installed | $(SETUP)  ## re-resolve requirements-vllm-kaggle.txt: vLLM VLLM_KAGGLE for Kaggle's image (online)
	$(PY) scripts/kaggle/vllm_lock.py --vllm $(VLLM_KAGGLE) --python .venv-kaggle/bin/python

$(VLLM_WHEELS_DIR)/requirements-vllm-kaggle.txt: requirements-vllm-kaggle.txt $(WHEELS_DIR)/requirements-kaggle.txt $(call code,kaggle/push_wheels) .venv-kaggle/.installed | $(SETUP)
	$(PY) scripts/kaggle/push_wheels.py --stage-only --requirements requirements-vllm-kaggle.txt \
	  --staging $(VLLM_WHEELS_DIR) --dataset $(VLLM_WHEELS_DATASET) --check-with .venv-kaggle/bin/python --alongside $(WHEELS_DIR)

vllm-wheels: $(VLLM_WHEELS_DIR)/requirements-vllm-kaggle.txt  ## stage the vLLM wheels for Kaggle's image (~1 GB) and resolve them offline with the notebook's

push-vllm-wheels: | $(SETUP) $(if $(DRY_RUN),,.venv-kaggle/.installed $(WHEELS_DIR)/requirements-kaggle.txt)  ## the vLLM wheels as the dataset eedi-vllm-wheels (VLLM_WHEELS_DATASET=, DRY_RUN=1)
	$(PY) scripts/kaggle/push_wheels.py --requirements requirements-vllm-kaggle.txt --staging $(VLLM_WHEELS_DIR) \
	  --dataset $(VLLM_WHEELS_DATASET) --title 'Eedi vLLM $(VLLM_KAGGLE) wheels' \
	  $(if $(DRY_RUN),--dry-run,--check-with .venv-kaggle/bin/python --alongside $(WHEELS_DIR))

.PHONY: test-kaggle-image
test-kaggle-image: .venv-kaggle/.installed $(WHEELS_DIR)/requirements-kaggle.txt | $(SETUP)  ## the notebook in Kaggle's package set (kernel-local KAGGLE_IMAGE=1, tiny reranker) equals make submission
	$(PY) -m pytest -q tests/kaggle/test_kaggle_image.py

image-pins: | $(SETUP)  ## rewrite constraints-kaggle-image.txt from FREEZE (the notebook's image-freeze.txt, make kernel-output) and SOURCE (where and when)
	$(PY) scripts/kaggle/image_pins.py --freeze $(FREEZE) --source '$(subst ','\'',$(SOURCE))'

# ---------------------------------------------------------------- publishing and submitting
# make push-weights -> push-code -> push-wheels -> kernel -> push-plan -> push-kernel -> kernel-status ->
# submit -> submission-time. Each needs Kaggle credentials; DRY_RUN=1 prints the exact kaggle
# (and pip) commands and touches no network. The notebook folder is make kernel's KERNEL_DIR;
# push-kernel records each pushed version in KERNEL_RECORD, beside the folder so that
# rebuilding the folder keeps it, and submit takes the last one unless KERNEL_VERSION=N.
KERNEL_RECORD   ?= $(KERNEL_DIR).pushed.json
KERNEL_OUTPUT   ?= submissions/kernel-output
KERNEL_VERSION  ?=
MESSAGE         ?=
ALLOW_DIRTY     ?=
SUBMISSION_TIME ?= submissions/submission-time.json
# submission-time's polling, e.g. --interval 120 --max-wait 36000, or --once
POLL_ARGS       ?=
KAGGLE_NOTEBOOK  = $(PY) scripts/kaggle/kernel.py --kernel-dir $(KERNEL_DIR) --record $(KERNEL_RECORD) $(if $(DRY_RUN),--dry-run)
.PHONY: push-code push-plan push-wheels push-kernel kernel-status kernel-output submit submission-time

push-code: | $(SETUP)  ## scripts/, Makefile, requirements as the Kaggle dataset eedi-code at the git sha (CODE_DATASET=, ALLOW_DIRTY=1, DRY_RUN=1)
	$(PY) scripts/kaggle/push_code.py $(if $(CODE_DATASET),--dataset $(CODE_DATASET)) \
	  $(if $(ALLOW_DIRTY),--allow-dirty) $(if $(DRY_RUN),--dry-run)

push-plan: | $(SETUP)  ## KERNEL_DIR/plan (make kernel: the notebook's plan, fusion/boost JSONs) as the Kaggle dataset eedi-plan (DRY_RUN=1)
	$(PY) scripts/kaggle/push_plan.py --plan-dir $(KERNEL_DIR)/plan --marker $(KERNEL_DIR).plan.pushed.json \
	  $(if $(DRY_RUN),--dry-run)

push-wheels: | $(SETUP) $(if $(DRY_RUN),,.venv-kaggle/.installed)  ## wheels of requirements-kaggle.txt for Kaggle's Python, resolved against its image, as the dataset eedi-wheels (WHEELS_DATASET=, DRY_RUN=1)
	$(PY) scripts/kaggle/push_wheels.py --staging $(WHEELS_DIR) $(if $(WHEELS_DATASET),--dataset $(WHEELS_DATASET)) \
	  $(if $(DRY_RUN),--dry-run,--check-with .venv-kaggle/bin/python)

push-kernel: | $(SETUP)  ## check KERNEL_DIR's metadata and every source it attaches, kaggle kernels push, record the version
	$(KAGGLE_NOTEBOOK) push

kernel-status: | $(SETUP)  ## kaggle kernels status of the notebook in KERNEL_DIR
	$(KAGGLE_NOTEBOOK) status

kernel-output: | $(SETUP)  ## download the notebook run's output (submission.csv, log) into KERNEL_OUTPUT
	$(KAGGLE_NOTEBOOK) output --out-dir $(KERNEL_OUTPUT)

submit: | $(SETUP)  ## submit the pushed notebook to the competition (KERNEL_VERSION=N, default the last pushed; MESSAGE=)
	$(KAGGLE_NOTEBOOK) submit $(if $(KERNEL_VERSION),--version $(KERNEL_VERSION)) \
	  $(if $(MESSAGE),--message '$(subst ','\'',$(MESSAGE))')

submission-time: | $(SETUP)  ## poll the last submission until scored; its elapsed time -> SUBMISSION_TIME (POLL_ARGS=--once)
	$(PY) scripts/kaggle/submission_time.py --record $(KERNEL_RECORD) --out $(SUBMISSION_TIME) \
	  $(POLL_ARGS) $(if $(DRY_RUN),--dry-run)
