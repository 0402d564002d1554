"""``infer_cfg.yml``: what a deployed model needs besides its graph.

PaddleDetection's deploy tools read this file next to the model (docs/legacy.md, "Export"): the architecture family,
the preprocessing steps in order, the class names and a default drawing threshold. slimdet writes it on
export from the config's EvalReader, and ``slimdet infer`` reads it back, so an exported folder runs
without the config that made it.

Preprocess entries keep the legacy names: the reader's ``ResizeImage``/``NormalizeImage``/``Permute``
become ``Resize``/``Normalize``/``Permute``; ``DecodeImage`` is dropped (the deploy side decodes) and
transforms that only touch boxes are dropped too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slimdet._files import write_bytes_atomic
from slimdet.errors import ConfigError, did_you_mean

FILE_NAME = "infer_cfg.yml"
ARCH = "YOLO"  # the legacy arch family key for every YOLOv3 variant
MIN_SUBGRAPH_SIZE = 3  # TensorRT sub-graph threshold the legacy export used for YOLO
DRAW_THRESHOLD = 0.5
MODE = "paddle"  # plain Paddle Inference (no TensorRT); the 2.x deploy tools' name for it
PRECISIONS = ("float32", "int8")  # int8: written by slimdet quantize; backends then load their int8 kernels

# Reader transform -> (deploy name, legacy defaults of the keys the deploy side reads).
# Defaults are the legacy transform defaults, used only when the config leaves a key out.
IMAGE_TRANSFORMS: dict[str, tuple[str, dict[str, Any]]] = {
    "ResizeImage": ("Resize", {"target_size": 0, "max_size": 0, "interp": 1, "use_cv2": True}),
    "NormalizeImage": (
        "Normalize",
        {"mean": [0.485, 0.456, 0.406], "std": [1.0, 1.0, 1.0], "is_scale": True, "is_channel_first": True},
    ),
    "Permute": ("Permute", {"to_bgr": True, "channel_first": True}),
}
# Reader transforms that do not change the image a deployed model sees.
SKIPPED_TRANSFORMS = frozenset({"DecodeImage", "PadBox", "NormalizeBox", "BboxXYXY2XYWH"})
DEPLOY_NAMES = frozenset(name for name, _ in IMAGE_TRANSFORMS.values())


# The keys an infer_cfg.yml may leave out (older exports, legacy files), read with these types when present.
_OPTIONAL_KEYS = {
    "metric": str,
    "arch": str,
    "mode": str,
    "min_subgraph_size": int,
    "with_background": bool,
    "draw_threshold": float,
    "precision": str,
}


@dataclass(frozen=True)
class InferConfig:
    """The contents of ``infer_cfg.yml``, checked."""

    input_size: int  # the square side the graph was exported with
    preprocess: tuple[Mapping[str, Any], ...]  # each {"type": name, **arguments}, in order
    label_list: tuple[str, ...]
    metric: str = "VOC"
    arch: str = ARCH
    mode: str = MODE
    min_subgraph_size: int = MIN_SUBGRAPH_SIZE
    with_background: bool = False
    draw_threshold: float = DRAW_THRESHOLD
    precision: str = "float32"  # one of PRECISIONS; legacy files have no key and are float32

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], label_list: Sequence[str]) -> InferConfig:
        """Translate a merged config (``Config.to_dict()`` shape) and its class names."""
        architecture = str(cfg.get("architecture", ""))
        if ARCH not in architecture.upper():
            raise ConfigError(f"export supports YOLOv3 only, this config's architecture is '{architecture}'")
        reader = cfg.get("EvalReader")
        if not isinstance(reader, Mapping):
            raise ConfigError("the config has no EvalReader section: export takes its preprocessing from it")
        transforms = [*(reader.get("sample_transforms") or []), *(reader.get("batch_transforms") or [])]
        preprocess = tuple(_deploy_step(step) for step in transforms if _keeps(step))
        num_classes = cfg.get("num_classes")
        if num_classes is not None and int(num_classes) != len(label_list):
            raise ConfigError(
                f"num_classes is {num_classes} but the dataset names {len(label_list)} classes: "
                "fix num_classes or the label list"
            )
        return cls(
            input_size=_input_size(preprocess),
            preprocess=preprocess,
            label_list=tuple(label_list),
            metric=str(cfg.get("metric", "VOC")),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = FILE_NAME) -> InferConfig:
        """Read the plain data of an ``infer_cfg.yml``; ``source`` names the file in error messages."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} is not a mapping of keys: re-export the model")
        missing = [key for key in ("Preprocess", "label_list") if key not in data]
        if missing:
            raise ConfigError(f"{source} lacks {', '.join(missing)}: re-export the model with slimdet export")
        preprocess = tuple(dict(step) for step in data["Preprocess"])
        written = {key: cast(data[key]) for key, cast in _OPTIONAL_KEYS.items() if key in data}  # else the defaults
        if written.get("precision", cls.precision) not in PRECISIONS:
            raise ConfigError(f"{source}: precision '{written['precision']}' is not one of {', '.join(PRECISIONS)}")
        for step in preprocess:
            if step.get("type") not in DEPLOY_NAMES:
                raise ConfigError(
                    f"{source}: unknown Preprocess step '{step.get('type')}'"
                    f"{did_you_mean(str(step.get('type')), DEPLOY_NAMES)}; known: {', '.join(sorted(DEPLOY_NAMES))}"
                )
        return cls(
            input_size=_input_size(preprocess),
            preprocess=preprocess,
            label_list=tuple(str(name) for name in data["label_list"]),
            **written,
        )

    def to_dict(self) -> dict[str, Any]:
        """The YAML document, keys in the order PaddleDetection writes them."""
        return {
            "mode": self.mode,
            "draw_threshold": self.draw_threshold,
            "metric": self.metric,
            "arch": self.arch,
            "min_subgraph_size": self.min_subgraph_size,
            "with_background": self.with_background,
            "precision": self.precision,
            "Preprocess": [dict(step) for step in self.preprocess],
            "label_list": list(self.label_list),
        }

    def write(self, folder: Path) -> Path:
        """Write ``folder/infer_cfg.yml`` atomically."""
        path = Path(folder) / FILE_NAME
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        return write_bytes_atomic(path, text.encode("utf-8"))

    @classmethod
    def read(cls, folder: Path) -> InferConfig:
        """Read ``folder/infer_cfg.yml``."""
        path = Path(folder) / FILE_NAME
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist: export the model with slimdet export") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML ({' '.join(str(err).split())})") from None
        return cls.from_dict(data, source=str(path))


def _keeps(step: Mapping[str, Any]) -> bool:
    """Whether a reader transform changes the image the model sees (unknown ones are an error)."""
    kind = step.get("type") if isinstance(step, Mapping) else None
    if kind in SKIPPED_TRANSFORMS:
        return False
    if kind in IMAGE_TRANSFORMS:
        return True
    raise ConfigError(
        f"EvalReader transform '{kind}'{did_you_mean(str(kind), [*IMAGE_TRANSFORMS, *SKIPPED_TRANSFORMS])} "
        f"cannot be exported: deployable ones are {', '.join(IMAGE_TRANSFORMS)}"
    )


def _deploy_step(step: Mapping[str, Any]) -> dict[str, Any]:
    name, defaults = IMAGE_TRANSFORMS[step["type"]]
    out = {"type": name, **{key: step.get(key, default) for key, default in defaults.items()}}
    if name == "Resize":
        target = out["target_size"]
        if isinstance(target, Sequence) or int(target) <= 0:
            raise ConfigError(
                f"EvalReader ResizeImage.target_size must be one positive size to export a fixed-shape "
                f"graph, got {target!r}"
            )
        if int(out["max_size"]) != 0:
            raise ConfigError(
                "EvalReader ResizeImage.max_size must be 0 (stretch to a square) to export YOLOv3, "
                f"got {out['max_size']}"
            )
        out["image_shape"] = [int(target), int(target)]
    return out


def _input_size(preprocess: Sequence[Mapping[str, Any]]) -> int:
    sizes = [int(step["target_size"]) for step in preprocess if step.get("type") == "Resize"]
    if len(sizes) != 1:
        raise ConfigError(f"the preprocessing needs exactly one Resize step to fix the input size, found {len(sizes)}")
    return sizes[0]
