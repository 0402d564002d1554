"""Process set-up: MKL's code path on AMD CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimdet.runtime import default_mkl_code_path

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
