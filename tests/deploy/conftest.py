"""Deploy fixtures: the small shapes model, once exported, and a few real pictures to run it on."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

from pathlib import Path

import cv2
import pytest


@pytest.fixture(scope="session")
def shapes_cfg(small_shapes_checkpoint) -> dict:
    from slimdet.config import load_config

    return load_config(small_shapes_checkpoint[0]).to_dict()


@pytest.fixture(scope="session")
def shapes_labels(synthetic_voc) -> list[str]:
    return (synthetic_voc / "label_list.txt").read_text().split()


@pytest.fixture(scope="session")
def shapes_model(small_shapes_checkpoint, shapes_cfg):
    """The checkpoint rebuilt the way every command does it (eval mode, weights loaded strictly)."""
    from slimdet.slim.assemble import build_trained_model

    model, plan = build_trained_model(shapes_cfg, small_shapes_checkpoint[1])
    assert plan is None
    return model


@pytest.fixture(scope="session")
def exported(shapes_model, shapes_cfg, shapes_labels, tmp_path_factory):
    """ExportResult of the unpruned shapes model (with ONNX when the extra is installed)."""
    from slimdet.deploy.export import export_model
    from slimdet.deploy.predictor import import_onnx_tools
    from slimdet.errors import SlimdetError

    try:
        import_onnx_tools()
        onnx = True
    except SlimdetError:
        onnx = False
    out = tmp_path_factory.mktemp("export") / "shapes_small"
    return export_model(shapes_model, shapes_cfg, None, out, label_list=shapes_labels, onnx=onnx)


@pytest.fixture(scope="session")
def test_images(synthetic_voc, tmp_path_factory) -> list[Path]:
    """Three synthetic test pictures plus a stretched, non-square copy (so boxes must map back to 150×80)."""
    images = sorted((synthetic_voc / "JPEGImages").glob("test_*.jpg"))[:3]
    wide = tmp_path_factory.mktemp("wide") / "wide.png"
    cv2.imwrite(str(wide), cv2.resize(cv2.imread(str(images[0])), (150, 80)))
    return [*images, wide]
