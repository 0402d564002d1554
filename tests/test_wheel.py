"""A wheel built from the repository carries the shipped configs, and an install of it finds them by name.

The install (``wheel_install``) is imported from an empty working directory, where only package data can
answer ``-c NAME``. ``tests/cli/test_demo.py`` runs the fast demo from the same install.
"""

import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIND_SHIPPED = """
from slimdet.config import load_config
from slimdet.commands.demo_configs import shipped_configs
print(load_config("yolov3_mobilenet_v1_voc.yml").path)
print(shipped_configs())
"""


def test_the_wheel_carries_the_configs_and_its_install_finds_them_by_name(wheel_install, tmp_path):
    with zipfile.ZipFile(wheel_install.wheel) as archive:
        shipped = sorted(name for name in archive.namelist() if name.startswith("slimdet/configs/"))
    assert shipped == sorted(f"slimdet/configs/{p.name}" for p in (ROOT / "slimdet" / "configs").glob("*.yml"))

    found = wheel_install.python("-c", FIND_SHIPPED, cwd=tmp_path, timeout=120)
    assert found.returncode == 0, found.stderr
    config, folder = found.stdout.split()
    assert Path(config) == wheel_install.site / "slimdet" / "configs" / "yolov3_mobilenet_v1_voc.yml"
    assert Path(folder) == wheel_install.site / "slimdet" / "configs"  # the demo's bases come from the install
