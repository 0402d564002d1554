"""Pixel transforms of the legacy reader: decode, mixup, colour distortion, resize, normalise, permute."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from slimdet.data.transforms.base import Sample, as_triple, check
from slimdet.errors import ConfigError, DataError


def read_image(path: str, to_rgb: bool = True) -> np.ndarray:
    """An image file as HWC uint8 (RGB when ``to_rgb``), or a DataError naming the file."""
    try:
        with open(path, "rb") as f:
            data = np.frombuffer(f.read(), np.uint8)
    except FileNotFoundError:
        raise DataError(f"image {path} not found") from None
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err.strerror or err}") from None
    if not data.size:
        raise DataError(f"image {path} is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"cannot decode image {path}: the file is corrupt or not an image (JPEG/PNG/BMP)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if to_rgb else image


class DecodeImage:
    """Read the image file (and the mixup partner's, with ``with_mixup``); set ``h, w, im_size``."""

    def __init__(self, to_rgb: bool = True, with_mixup: bool = False):
        self.to_rgb = bool(to_rgb)
        self.with_mixup = bool(with_mixup)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        self._decode(sample)
        if self.with_mixup and "mixup" in sample:
            self._decode(sample["mixup"])
        return sample

    def _decode(self, sample: Sample) -> None:
        image = read_image(sample["im_file"], self.to_rgb)
        h, w = image.shape[:2]
        sample.update(image=image, h=h, w=w, im_size=np.array([h, w], np.int32))


class MixupImage:
    """Blend the sample with its partner (attached by the loader while epoch < mixup_epoch).

    factor ~ Beta(alpha, beta) clipped to [0, 1]; image = factor·img1 + (1−factor)·img2 on a canvas of
    the larger height and width (black elsewhere); boxes, classes and difficult flags are concatenated;
    ``gt_score`` becomes factor·score1 and (1−factor)·score2. A factor of 1 keeps the sample as is, 0
    returns the partner.
    """

    def __init__(self, alpha: float = 1.5, beta: float = 1.5):
        check(alpha > 0 and beta > 0, "MixupImage", f"alpha and beta must be positive, got {alpha}, {beta}")
        self.alpha, self.beta = float(alpha), float(beta)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        partner = sample.pop("mixup", None)
        if partner is None:
            return sample
        if "image" not in partner:
            raise ConfigError("MixupImage needs the partner decoded: set with_mixup: true on DecodeImage")
        factor = float(np.clip(rng.beta(self.alpha, self.beta), 0.0, 1.0))
        if factor >= 1.0:
            return sample
        if factor <= 0.0:
            return partner
        img1, img2 = sample["image"], partner["image"]
        h, w = max(img1.shape[0], img2.shape[0]), max(img1.shape[1], img2.shape[1])
        canvas = np.zeros((h, w, img1.shape[2]), np.float32)
        canvas[: img1.shape[0], : img1.shape[1]] = img1.astype(np.float32) * factor
        canvas[: img2.shape[0], : img2.shape[1]] += img2.astype(np.float32) * (1.0 - factor)
        sample["image"] = canvas.astype(np.uint8)
        sample["h"], sample["w"] = h, w
        for key in ("gt_bbox", "gt_class", "difficult"):
            sample[key] = np.concatenate([sample[key], partner[key]], axis=0)
        sample["gt_score"] = np.concatenate([sample["gt_score"] * factor, partner["gt_score"] * (1.0 - factor)]).astype(
            np.float32
        )
        return sample


# Standard NTSC RGB <-> YIQ matrices, used by the legacy hue rotation.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]])
_YIQ_TO_RGB = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.107, 1.705]])
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class ColorDistort:
    """Random hue, saturation, contrast and brightness, each given as [low, high, skip probability].

    As in the legacy operator: each op is *skipped* with its probability; with ``random_apply`` the
    four run in random order, otherwise brightness first, then contrast either before or after
    saturation+hue. Hue rotates the chroma plane in YIQ space by delta·π radians (the legacy formula,
    so the default ±18 spans every angle); brightness adds delta (0.5–1.5, nearly nothing).
    Unlike the legacy op the result is clipped to [0, 255] and stays uint8 (legacy values beyond the range
    wrapped around at the next uint8 cast).
    """

    def __init__(
        self,
        hue: Sequence[float] = (-18, 18, 0.5),
        saturation: Sequence[float] = (0.5, 1.5, 0.5),
        contrast: Sequence[float] = (0.5, 1.5, 0.5),
        brightness: Sequence[float] = (0.5, 1.5, 0.5),
        random_apply: bool = True,
        random_channel: bool = False,
    ):
        settings = {"hue": hue, "saturation": saturation, "contrast": contrast, "brightness": brightness}
        for name, value in settings.items():
            check(
                isinstance(value, (list, tuple)) and len(value) == 3,
                "ColorDistort",
                f"{name} must be [low, high, probability], got {value!r}",
            )
        self.hue, self.saturation = tuple(hue), tuple(saturation)
        self.contrast, self.brightness = tuple(contrast), tuple(brightness)
        self.random_apply = bool(random_apply)
        self.random_channel = bool(random_channel)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = sample["image"].astype(np.float32)
        ops = [self._brightness, self._contrast, self._saturation, self._hue]
        if self.random_apply:
            order = rng.permutation(len(ops))
            ops = [ops[i] for i in order]
        else:
            ops = [ops[0], ops[1], ops[2], ops[3]] if rng.integers(0, 2) else [ops[0], ops[2], ops[3], ops[1]]
        for op in ops:
            img = op(img, rng)
        if self.random_channel and rng.integers(0, 2):
            img = img[..., rng.permutation(3)]
        sample["image"] = np.clip(img, 0, 255).round().astype(np.uint8)
        return sample

    @staticmethod
    def _delta(setting: tuple, rng: np.random.Generator) -> float | None:
        low, high, skip = setting
        if rng.uniform(0.0, 1.0) < skip:
            return None
        return float(rng.uniform(low, high))

    def _hue(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        delta = self._delta(self.hue, rng)
        if delta is None:
            return img
        u, v = np.cos(delta * np.pi), np.sin(delta * np.pi)
        rotate = np.array([[1.0, 0.0, 0.0], [0.0, u, -v], [0.0, v, u]])
        matrix = (_YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ).T.astype(np.float32)
        return img @ matrix

    def _saturation(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        delta = self._delta(self.saturation, rng)
        if delta is None:
            return img
        gray = (img @ _LUMA)[..., None]
        return img * delta + gray * (1.0 - delta)

    def _contrast(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        delta = self._delta(self.contrast, rng)
        return img if delta is None else img * delta

    def _brightness(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        delta = self._delta(self.brightness, rng)
        return img if delta is None else img + delta


class ResizeImage:
    """Resize the image; boxes and ``h, w`` stay in the original frame (see transforms.base).

    ``max_size`` 0: both sides become ``target_size`` (aspect ratio not kept; the legacy eval/test
    resize). Otherwise the short side becomes ``target_size`` unless that pushes the long side past
    ``max_size``. A list of target sizes picks one at random. ``interp`` is an OpenCV code (0 nearest,
    1 linear, 2 cubic, 3 area, 4 lanczos).
    """

    def __init__(self, target_size: int | Sequence[int] = 0, max_size: int = 0, interp: int = cv2.INTER_LINEAR):
        sizes = list(target_size) if isinstance(target_size, (list, tuple)) else [target_size]
        check(
            bool(sizes) and all(isinstance(s, int) and s > 0 for s in sizes),
            "ResizeImage",
            f"target_size must be a positive int or a list of them, got {target_size!r}",
        )
        check(isinstance(max_size, int) and max_size >= 0, "ResizeImage", f"max_size must be >= 0, got {max_size!r}")
        check(interp in range(5), "ResizeImage", f"interp must be an OpenCV code 0..4, got {interp!r}")
        self.sizes, self.max_size, self.interp = sizes, max_size, int(interp)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if sample.get("channel_first"):
            raise ConfigError("ResizeImage works on HWC images: put it before Permute")
        h, w = sample["image"].shape[:2]
        size = self.sizes[int(rng.integers(len(self.sizes)))] if len(self.sizes) > 1 else self.sizes[0]
        if self.max_size:
            scale = size / min(h, w)
            if round(scale * max(h, w)) > self.max_size:
                scale = self.max_size / max(h, w)
            dsize = (int(round(w * scale)), int(round(h * scale)))
        else:
            dsize = (size, size)
        sample["image"] = cv2.resize(sample["image"], dsize, interpolation=self.interp)
        return sample


class NormalizeImage:
    """(image [/255] − mean) / std per channel, as float32."""

    def __init__(
        self,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        is_scale: bool = True,
        is_channel_first: bool = True,
    ):
        mean3 = np.array(as_triple(mean, "NormalizeImage", "mean"))
        std3 = np.array(as_triple(std, "NormalizeImage", "std"))
        check(bool(np.all(std3 != 0)), "NormalizeImage", f"std must not contain 0, got {std!r}")
        self.mean, self.std = mean3, std3
        self.is_scale, self.is_channel_first = bool(is_scale), bool(is_channel_first)
        shape = (3, 1, 1) if self.is_channel_first else (1, 1, 3)
        self._gain = ((1 / 255.0 if self.is_scale else 1.0) / std3).astype(np.float32).reshape(shape)
        self._offset = (mean3 / std3).astype(np.float32).reshape(shape)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.is_channel_first != bool(sample.get("channel_first")):
            layout = "CHW" if sample.get("channel_first") else "HWC"
            raise ConfigError(
                f"NormalizeImage has is_channel_first: {str(self.is_channel_first).lower()} but the image is "
                f"{layout} at that point: set is_channel_first: {str(not self.is_channel_first).lower()}"
            )
        image = sample["image"].astype(np.float32)
        image *= self._gain
        image -= self._offset
        sample["image"] = image
        return sample

    def invert(self, image: np.ndarray) -> np.ndarray:
        """Undo the normalisation of a HWC image (for pictures of what the model sees)."""
        scale = 255.0 if self.is_scale else 1.0
        return (image * self.std.reshape(1, 1, 3) + self.mean.reshape(1, 1, 3)) * scale


class Permute:
    """HWC → CHW (``channel_first``) and RGB ↔ BGR (``to_bgr``)."""

    def __init__(self, to_bgr: bool = True, channel_first: bool = True):
        self.to_bgr, self.channel_first = bool(to_bgr), bool(channel_first)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = sample["image"]
        if self.channel_first and not sample.get("channel_first"):
            image = image.transpose(2, 0, 1)
            sample["channel_first"] = True
        if self.to_bgr:
            image = image[::-1] if sample.get("channel_first") else image[..., ::-1]
        sample["image"] = np.ascontiguousarray(image)
        return sample
