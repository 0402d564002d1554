"""The two legacy VOC model configs (configs/*.yml; docs/legacy.md, "Configs") as plain data, and their models."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

from typing import Any

import pytest

from .voc_configs import voc_cfg


@pytest.fixture
def mobilenet_voc_cfg() -> dict[str, Any]:
    return voc_cfg("yolov3_mobilenet_v1_voc")


@pytest.fixture
def r34_voc_cfg() -> dict[str, Any]:
    return voc_cfg("yolov3_r34_voc")


def _eval_model(name: str):
    from slimdet.modeling.build import build_model

    model = build_model(voc_cfg(name), random_init=False)  # its users read names, shapes and counts only
    model.eval()
    return model


@pytest.fixture(scope="module")
def mobilenet_voc():
    """A yolov3_mobilenet_v1_voc model in eval mode, shared by a module's read-only tests."""
    return _eval_model("yolov3_mobilenet_v1_voc")


@pytest.fixture(scope="module")
def r34_voc():
    return _eval_model("yolov3_r34_voc")
