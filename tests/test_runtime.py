"""Process set-up: MKL's code path on AMD CPUs, paddle's noise, glibc's handling of freed memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slimdet.runtime import default_mkl_code_path, keep_freed_memory

AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n"
INTEL = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma\n"
OLD_AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx\n"


@pytest.mark.parametrize(("cpuinfo", "expected"), [(AMD, "5"), (INTEL, None), (OLD_AMD, None)])
def test_avx2_path_only_on_amd_cpus_that_have_avx2(tmp_path: Path, cpuinfo: str, expected: str | None) -> None:
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    environ: dict[str, str] = {}
    default_mkl_code_path(environ, tmp_path / "cpuinfo")
    assert environ.get("MKL_DEBUG_CPU_TYPE") == expected


def test_a_users_own_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(AMD)
    environ = {"MKL_DEBUG_CPU_TYPE": "4"}
    default_mkl_code_path(environ, tmp_path / "cpuinfo")
    assert environ == {"MKL_DEBUG_CPU_TYPE": "4"}


def test_no_cpuinfo_leaves_mkl_alone(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    default_mkl_code_path(environ, tmp_path / "missing")
    assert environ == {}


def test_glog_is_kept_to_errors_unless_the_user_chose_a_level():
    from slimdet.runtime import quiet_native_logs

    environ: dict[str, str] = {}
    quiet_native_logs(environ)
    assert environ == {"GLOG_minloglevel": "2"}
    mine = {"GLOG_minloglevel": "0"}
    quiet_native_logs(mine)
    assert mine == {"GLOG_minloglevel": "0"}


def test_paddles_import_warning_is_held_back_and_other_import_output_passes(tmp_path, capsys):
    import importlib.util

    from slimdet.runtime import _QuietPaddleLoader

    module_file = tmp_path / "noisy.py"
    module_file.write_text(
        "import sys\n"
        "print('WARNING: OMP_NUM_THREADS set to 2, not 1. The computation speed will not be optimized.', file=sys.stderr)\n"
        "print('PLEASE USE OMP_NUM_THREADS WISELY.', file=sys.stderr)\n"
        "print('a real problem', file=sys.stderr)\n"
        "VALUE = 42\n"
    )
    spec = importlib.util.spec_from_file_location("noisy", module_file)
    real_loader = spec.loader
    spec.loader = _QuietPaddleLoader(real_loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.VALUE == 42 and module.__loader__ is real_loader
    assert capsys.readouterr().err == "a real problem\n"


# Three 20 MiB blocks allocated and freed together, 20 times: glibc's defaults hand them back to the kernel on
# every free (they end above its moving trim threshold), so every round faults their pages in again.
ROUNDS_OF_LARGE_BLOCKS = """
import resource, sys
import numpy as np
if sys.argv[1] == "kept":
    from slimdet.runtime import keep_freed_memory
    assert keep_freed_memory()
def round_of_blocks():
    blocks = [np.ones(5 << 20, dtype=np.float32) for _ in range(3)]
    del blocks
round_of_blocks()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    round_of_blocks()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_kept_freed_memory_is_reused_without_page_faults() -> None:
    def faults(mode: str) -> int:
        # A fresh interpreter each: the setting lasts for the process, and this one imported slimdet already.
        run = subprocess.run([sys.executable, "-c", ROUNDS_OF_LARGE_BLOCKS, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    default = faults("default")
    assert default > 20 * 100  # the cost being removed is real here (huge pages make it fewer than pages)
    assert faults("kept") < default / 20  # less over all 20 rounds than the default pays in one


def test_glibcs_own_variables_win() -> None:
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"}) is False
    assert keep_freed_memory({"MALLOC_MMAP_THRESHOLD_": "65536"}) is False


def test_op_call_stacks_are_left_out_only_inside_the_block_even_when_it_fails() -> None:
    import paddle.base.framework as framework

    from slimdet.runtime import without_op_callstacks

    real = framework.traceback
    with pytest.raises(RuntimeError), without_op_callstacks():
        assert framework.traceback.extract_stack() == []
        raise RuntimeError("a trace that fails")
    assert framework.traceback is real and framework.traceback.extract_stack()
