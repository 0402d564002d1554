"""A wheel built from the repository carries the shipped configs, and an install of it finds them by name.

The wheel is pure Python, so unpacking it is installing it (entry points aside): the unpacked copy is
imported from an empty working directory, where only package data can answer ``-c NAME``.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIND_SHIPPED = """
from slimdet.config import load_config
from slimdet.commands.demo_configs import shipped_configs
print(load_config("yolov3_mobilenet_v1_voc.yml").path)
print(shipped_configs())
"""


def test_the_wheel_carries_the_configs_and_its_install_finds_them_by_name(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "slimdet", source / "slimdet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("slimdet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(name for name in archive.namelist() if name.startswith("slimdet/configs/"))
        archive.extractall(tmp_path / "site")
    assert shipped == sorted(f"slimdet/configs/{p.name}" for p in (ROOT / "slimdet" / "configs").glob("*.yml"))

    empty = tmp_path / "empty"
    empty.mkdir()
    found = subprocess.run(
        [sys.executable, "-c", FIND_SHIPPED],
        cwd=empty,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    config, folder = found.stdout.split()
    assert Path(config) == tmp_path / "site" / "slimdet" / "configs" / "yolov3_mobilenet_v1_voc.yml"
    assert Path(folder) == tmp_path / "site" / "slimdet" / "configs"  # the demo's bases come from the install
