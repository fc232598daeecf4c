"""eedi.rerank.vllm_env: `cpu_environment` adds VLLM_CPU_NUM_OF_RESERVED_CPU=0 and binds vLLM's OpenMP
threads to the cores of os.sched_getaffinity(0) ("0-1", or "0,2,5" when not contiguous); values
already set win and the caller's env is not changed; `apply_cpu_environment` sets os.environ."""

import os

import pytest

from eedi.rerank import vllm_env
from eedi.rerank.vllm_env import apply_cpu_environment
from eedi.rerank.vllm_env import cpu_environment


def run_on(monkeypatch, cores):
    monkeypatch.setattr(vllm_env.os, "sched_getaffinity", lambda pid: set(cores))


@pytest.mark.parametrize("cores, bind", [({0, 1}, "0-1"), ({4, 5, 6, 7}, "4-7"),
                                         ({0, 2, 5}, "0,2,5"), ({1, 2, 4}, "1,2,4")])
def test_bind_string_covers_the_cores_of_this_process(monkeypatch, cores, bind):
    run_on(monkeypatch, cores)
    assert cpu_environment({"PATH": "/bin"}) == {
        "PATH": "/bin", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_OMP_THREADS_BIND": bind}


def test_values_already_set_are_kept_and_the_given_env_is_not_changed(monkeypatch):
    run_on(monkeypatch, {0, 1})
    given = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}
    env = cpu_environment(given)
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "1" and env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert given == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}  # a copy was changed, not the input
    assert cpu_environment({"VLLM_CPU_OMP_THREADS_BIND": "0"})["VLLM_CPU_OMP_THREADS_BIND"] == "0"


def test_default_is_os_environ_and_apply_sets_it(monkeypatch):
    run_on(monkeypatch, {0, 2, 5})
    for name in ("VLLM_CPU_NUM_OF_RESERVED_CPU", "VLLM_CPU_OMP_THREADS_BIND"):
        monkeypatch.setenv(name, "x")  # recorded first, so the test's changes are undone
        monkeypatch.delenv(name)
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "2")
    assert cpu_environment()["VLLM_CPU_OMP_THREADS_BIND"] == "0,2,5"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
    apply_cpu_environment()
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0,2,5"
    assert os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "2"
