"""Turn an image file into the tensor a deployed model expects, following ``infer_cfg.yml``.

The ``Preprocess`` steps are run by the data package's own transforms (``Resize`` → ``ResizeImage``,
``Normalize`` → ``NormalizeImage``, ``Permute``), so a deployed model sees exactly the pixels ``slimdet
eval`` fed it. The network also needs each image's original (h, w): box decoding maps straight back to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.data.datasets.folder import IMAGE_SUFFIXES
from slimdet.data.transforms import NormalizeImage, Permute, ResizeImage, read_image
from slimdet.errors import ConfigError, DataError

# deploy step -> (reader transform, the keys it takes; infer_cfg.yml's other keys are informative only)
TRANSFORMS: dict[str, tuple[type, tuple[str, ...]]] = {
    "Resize": (ResizeImage, ("target_size", "max_size", "interp")),
    "Normalize": (NormalizeImage, ("mean", "std", "is_scale", "is_channel_first")),
    "Permute": (Permute, ("to_bgr", "channel_first")),
}


class Preprocessor:
    """The ``Preprocess`` steps of an ``infer_cfg.yml``, built once and applied to RGB images."""

    def __init__(self, steps: Sequence[Mapping[str, Any]]) -> None:
        self._transforms = []
        for step in steps:
            cls, keys = TRANSFORMS[step["type"]]
            self._transforms.append(cls(**{key: step[key] for key in keys if key in step}))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] → float32 [3, S, S]."""
        sample: dict[str, Any] = {"image": rgb}
        rng = np.random.default_rng(0)  # the deploy steps draw nothing; the transforms' signature wants one
        for transform in self._transforms:
            sample = transform(sample, rng)
        out = sample["image"]
        if out.ndim != 3 or out.shape[0] != 3:
            raise ConfigError(
                f"the Preprocess steps give an array of shape {list(out.shape)}, not a channel-first image: "
                "they must end with Permute (channel_first: true)"
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def prepare(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read one image file into a batch of one: (original RGB, image [1,3,S,S], im_size [1,2] int32)."""
        rgb = read_image(str(path))
        return rgb, self(rgb)[None], np.array([rgb.shape[:2]], dtype=np.int32)


def list_images(image: Path | None = None, image_dir: Path | None = None) -> list[Path]:
    """The file named by ``--image``, or the images found (by suffix, not recursively) in ``--image-dir``."""
    if (image is None) == (image_dir is None):
        raise DataError("give exactly one of --image FILE or --image-dir DIR")
    if image is not None:
        if not Path(image).is_file():
            raise DataError(f"image '{image}' does not exist")
        return [Path(image)]
    folder = Path(image_dir)
    if not folder.is_dir():
        raise DataError(f"image folder '{folder}' does not exist")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{folder}'")
    return found
