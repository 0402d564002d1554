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
