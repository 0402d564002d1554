"""``slimdet infer``'s core: open an exported folder or rebuild a checkpoint, then detect and draw (``deploy.infer``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slimdet.config import Config, load_config
from slimdet.data.labels import class_names_for_model
from slimdet.deploy.infer import DEFAULT_OUTPUT_DIR, InferResult, SkippedImage, detect_images, open_exported
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import Detector, DygraphPredictor
from slimdet.deploy.preprocess import list_images
from slimdet.errors import SlimdetError
from slimdet.slim.assemble import build_trained_model


@dataclass(frozen=True)
class InferRequest:
    """What ``slimdet infer`` was asked, worked out once: the images (listed), one model (an exported folder, or
    the merged config of a checkpoint: its ``weights``), the score threshold (None: the model's), the output
    folder, and whether an unreadable image stops the run (always so for a single ``image``)."""

    images: tuple[Path, ...]
    model_dir: Path | None = None
    cfg: Config | None = None
    threshold: float | None = None
    output_dir: Path = DEFAULT_OUTPUT_DIR
    strict: bool = False

    @classmethod
    def from_flags(
        cls,
        *,
        model_dir: str | Path | None = None,
        config: str | Path | None = None,
        overrides: Sequence[str] = (),
        image: str | Path | None = None,
        image_dir: str | Path | None = None,
        threshold: float | None = None,
        output_dir: str | Path = DEFAULT_OUTPUT_DIR,
        strict: bool = False,
    ) -> InferRequest:
        """The request as the command line gives it; the cheap checks (one model, images that exist) come
        before the config is read, and everything before any model is loaded."""
        if (model_dir is None) == (config is None):
            raise SlimdetError("give exactly one model: --model-dir DIR (exported) or -c CONFIG -o weights=W")
        images = list_images(None if image is None else Path(image), None if image_dir is None else Path(image_dir))
        cfg = None if config is None else load_config(config, overrides)
        model = None if model_dir is None else Path(model_dir)
        return cls(tuple(images), model, cfg, threshold, Path(output_dir), strict or image is not None)


def open_checkpoint(cfg: Config) -> tuple[Detector, InferConfig]:
    """The dygraph model of a checkpoint (the config's ``weights``, e.g. ``-o weights=W``), pruned as its
    sidecar says, with the preprocessing of the config's EvalReader and the class names of its TestReader
    (as the legacy infer tool took them)."""
    data = cfg.to_dict()
    label_list = class_names_for_model(data, "test", cfg.weights)  # no dataset needed on a deployment machine
    infer_cfg = InferConfig.from_config(data, label_list)  # config problems show before the model is built
    model, _ = build_trained_model(data, cfg.weights)
    return DygraphPredictor(model), infer_cfg


def infer(request: InferRequest, *, on_skip: Callable[[SkippedImage], None] | None = None) -> InferResult:
    """``slimdet infer``: open the model, detect and draw.

    Over an image folder, unreadable files are skipped (see ``detect_images``, ``on_skip``) unless ``strict``.
    """
    if request.model_dir is not None:
        detector, infer_cfg = open_exported(request.model_dir)
    else:
        assert request.cfg is not None  # from_flags: exactly one model
        detector, infer_cfg = open_checkpoint(request.cfg)
    return detect_images(
        detector,
        infer_cfg,
        request.images,
        threshold=request.threshold,
        output_dir=request.output_dir,
        strict=request.strict,
        on_skip=on_skip,
    )
