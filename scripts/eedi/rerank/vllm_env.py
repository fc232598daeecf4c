"""vLLM's CPU environment, in one place (the engine, its benchmark and its tests all need it).

vLLM's CPU backend binds its OpenMP threads to cores and reserves one for itself by default; on
a small machine that leaves a core idle. Set these before the engine starts: its worker
processes inherit the environment.

    env = cpu_environment(os.environ)   # a copy with VLLM_CPU_* added (values already set win)
    apply_cpu_environment()             # the same, into this process's os.environ
"""

from __future__ import annotations

import os


def cpu_environment(env=None) -> dict[str, str]:
    """env (default os.environ) + VLLM_CPU_NUM_OF_RESERVED_CPU=0 and VLLM_CPU_OMP_THREADS_BIND
    = every core this process may run on ("0-1", or "0,2,5" when not contiguous)."""
    env = dict(os.environ if env is None else env)
    cores = sorted(os.sched_getaffinity(0))
    contiguous = cores == list(range(cores[0], cores[-1] + 1))
    env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND",
                   f"{cores[0]}-{cores[-1]}" if contiguous else ",".join(map(str, cores)))
    return env


def apply_cpu_environment() -> None:
    os.environ.update(cpu_environment())
