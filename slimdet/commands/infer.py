"""``slimdet infer``'s core: open an exported folder or rebuild a checkpoint, then detect and draw (``deploy.infer``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from slimdet.config import load_config
from slimdet.data.labels import class_names_for_model
from slimdet.deploy.infer import DEFAULT_OUTPUT_DIR, InferResult, SkippedImage, detect_images, open_exported
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import Detector, DygraphPredictor
from slimdet.deploy.preprocess import list_images
from slimdet.errors import SlimdetError
from slimdet.slim.assemble import build_trained_model


def open_checkpoint(config: Path, overrides: Sequence[str] = ()) -> tuple[Detector, InferConfig]:
    """The dygraph model of a checkpoint (the config's ``weights``, e.g. ``-o weights=W``), pruned as its
    sidecar says, with the preprocessing of the config's EvalReader and the class names of its TestReader
    (as the legacy infer tool took them)."""
    cfg = load_config(config, overrides)
    data = cfg.to_dict()
    label_list = class_names_for_model(data, "test", cfg.weights)  # no dataset needed on a deployment machine
    infer_cfg = InferConfig.from_config(data, label_list)  # config problems show before the model is built
    model, _ = build_trained_model(data, cfg.weights)
    return DygraphPredictor(model), infer_cfg


def infer(
    *,
    model_dir: Path | None = None,
    config: Path | None = None,
    overrides: Sequence[str] = (),
    image: Path | None = None,
    image_dir: Path | None = None,
    threshold: float | None = None,
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    strict: bool = False,
    on_skip: Callable[[SkippedImage], None] | None = None,
) -> InferResult:
    """``slimdet infer``: pick the model source, list the images, detect and draw.

    Over ``image_dir``, unreadable files are skipped (see ``detect_images``) unless ``strict``; a single
    ``image`` that cannot be read is always an error.
    """
    if (model_dir is None) == (config is None):
        raise SlimdetError("give exactly one model: --model-dir DIR (exported) or -c CONFIG -o weights=W")
    images = list_images(image, image_dir)  # cheap checks before any model is loaded
    if model_dir is not None:
        detector, infer_cfg = open_exported(model_dir)
    else:
        detector, infer_cfg = open_checkpoint(config, overrides)
    return detect_images(
        detector,
        infer_cfg,
        images,
        threshold=threshold,
        output_dir=output_dir,
        strict=strict or image is not None,
        on_skip=on_skip,
    )
