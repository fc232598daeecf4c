# ---------------------------------------------------------------- experiments
# make experiments PLAN=experiments/<name>.tsv JOBS=n: the plan's rows (one experiment each: a
# row's Make variables and goals, eedi/experiments/plan.py) run unattended, n at a time, through
# GNU parallel. Job slot s holds the s-th group of GPUs (as many as the largest GPUS of a row)
# among QUEUE_GPU_IDS; without GPUs the rows share the CPU. Each row's outputs are named by its
# settings (the settings keys), so rows never overwrite each other's, and share what they have
# in common through Make's usual checks (a model two rows need is trained once: the other waits
# for it). A failed row stops only itself. Re-run the same command after a kill or a reboot:
# finished rows are skipped (GNU parallel's --resume-failed, its joblog kept per version of the
# plan), a killed training resumes from its checkpoint. NOTIFY='command' gets one line on stdin
# as each row ends and when the queue ends (a webhook curl, mail); its failure never stops the
# queue. One queue per plan (a second is refused, naming the first's pid and host); a kill, a
# Ctrl-C or a closed terminal stops every row (scripts/experiments/run_queue.py). Files:
# RUN/experiments/<name>/ (queue.lock, logs/, results/, summary.md, summary.csv) and
# RUN/report/experiments-<name>.html.
PLAN          ?=
NOTIFY        ?=
QUEUE_GPU_IDS ?= $(if $(CUDA_VISIBLE_DEVICES),$(subst $(comma), ,$(CUDA_VISIBLE_DEVICES)),$(shell nvidia-smi -L 2> /dev/null | awk '/^GPU/ {print NR - 1}'))
# Rows at a time; empty: as many as the GPUs hold (their count / the largest GPUS of a row), 1
# without GPUs.
JOBS          ?=
# Seconds a row may run; past it the row is stopped and recorded as timeout. Empty: no limit.
ROW_TIMEOUT   ?=
QUEUE_DIR      = $(RUN)/experiments/$(basename $(notdir $(PLAN)))
QUEUE_ARGS     = --plan $(PLAN) --dir $(QUEUE_DIR) --report-dir $(RUN)/report
# NOTIFY as the user wrote it: Make would expand its $VAR (on the command line or from the
# environment) before exporting it; a simple variable's value is exported verbatim.
override NOTIFY := $(value NOTIFY)
export NOTIFY  # to the row runner and the summary, from the environment: no quoting to get wrong

experiments: | $(SETUP)  ## run PLAN=experiments/<name>.tsv's rows JOBS at a time (a GPU group each), resumable; summary table + NOTIFY
	@[ -n "$(PLAN)" ] || { echo "error: make experiments needs PLAN=experiments/<name>.tsv (e.g. experiments/sample.tsv)" >&2; exit 1; }
	@command -v parallel > /dev/null || { echo "error: make experiments runs its rows through GNU parallel: apt-get install parallel (brew install parallel)" >&2; exit 1; }
	@[ -z "$(HOSTS)" ] || { echo "error: HOSTS= (one queue over several machines) is not supported yet: run one queue per machine, or GNU parallel --sshloginfile by hand (docs/experiments.md, 'Past one machine')" >&2; exit 1; }
	@exec $(PY) scripts/experiments/run_queue.py $(QUEUE_ARGS) \
	  $(if $(JOBS),--jobs $(JOBS)) --gpu-ids '$(QUEUE_GPU_IDS)' --row-timeout $(or $(ROW_TIMEOUT),0)

experiments-summary: | $(SETUP)  ## rebuild PLAN's summary table from the rows that ended (while a queue runs, or after)
	$(PY) scripts/experiments/summarize.py $(QUEUE_ARGS)
