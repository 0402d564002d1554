"""A synthetic VOC-format dataset of coloured shapes, small enough to train a YOLOv3 on a laptop CPU.

Three classes (circle, square, triangle) are drawn on textured backgrounds (noise, gradients, stripes)
so that shape, not colour or background, tells them apart: colours are random per object and chosen
to contrast with what lies underneath. Each image holds 1–6 objects from tiny to large; later objects may
overlap earlier ones. An object is marked ``difficult`` when it is tiny or mostly hidden, which is what
VOC's difficult flag means (the VOC metric then neither rewards nor punishes detecting it).

The hard variant (``hard=True``) adds six classes that differ from the first three, or from each other, only
in a detail (ring and frame are a circle and a square with a hole; pentagon and hexagon differ in one corner;
star; cross), up to 12 objects per image, and thin unlabelled strokes under them. A detector's capacity shows
there: the distillation benchmark uses it so that the teacher can lead the student by a wide margin.

Same arguments → byte-identical files: every image has its own generator seeded from
(seed, split, index), drawing uses no randomness of its own and JPEGs are encoded at a fixed quality.
The dataset is written into a temporary sibling folder and renamed into place, so an interrupted run
leaves nothing half-written.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from slimdet._files import atomic_dir
from slimdet.errors import DataError

CLASS_NAMES = ("circle", "square", "triangle")
# The hard variant: six more classes, some told apart from the easy ones only by a hole or a corner count.
HARD_CLASS_NAMES = CLASS_NAMES + ("ring", "frame", "pentagon", "hexagon", "star", "cross")
JPEG_QUALITY = 95
MAX_OBJECTS, HARD_MAX_OBJECTS = 6, 12
# Unlabelled strokes the hard variant draws under its objects, so that not every edge belongs to one.
HARD_MAX_CLUTTER = 8
# Object extent (diameter / side) as a share of the image side, sampled log-uniformly.
MIN_EXTENT, MAX_EXTENT = 0.07, 0.5
# Difficult: longest box side below this share of the image, or less than this share of it visible.
TINY_EXTENT, MIN_VISIBLE_EASY = 0.09, 0.55
# A placement is rejected when it hides more than this much of an earlier object or overlaps it too much.
MIN_VISIBLE_ANY, MAX_IOU = 0.3, 0.4
_SPLITS = (("train", "trainval.txt"), ("test", "test.txt"))


@dataclass(frozen=True)
class SynthObject:
    name: str
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: inclusive pixel indices
    difficult: bool


@dataclass(frozen=True)
class SynthReport:
    """What ``write_synthetic_voc`` wrote."""

    out_dir: str
    num_train: int
    num_test: int
    size: int
    seed: int
    hard: bool
    objects: dict[str, int]
    difficult: int

    def to_dict(self) -> dict:
        return asdict(self)


def write_synthetic_voc(
    out_dir: str | Path,
    *,
    num_train: int,
    num_test: int,
    size: int,
    seed: int,
    hard: bool = False,
    overwrite: bool = False,
) -> SynthReport:
    """Write the shapes dataset to ``out_dir`` (PaddleDetection VOC layout) and describe it.

    Layout: ``JPEGImages/*.jpg``, ``Annotations/*.xml``, ``label_list.txt``, and ``trainval.txt`` /
    ``test.txt`` whose lines are ``JPEGImages/x.jpg Annotations/x.xml`` relative to ``out_dir``.
    A non-empty ``out_dir`` is replaced only with ``overwrite=True``. ``hard`` writes the nine-class variant
    (more, smaller-looking and look-alike objects among clutter): a task on which a small detector levels
    off well below a large one, which is what a distillation benchmark needs.
    """
    if num_train < 1 or num_test < 1:
        raise DataError(f"need at least one train and one test image (got {num_train} and {num_test})")
    if size < 32:
        raise DataError(f"image size {size} is too small: use at least 32 px")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a directory: choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} is not empty: pass --force to replace it, or choose another output folder")
    with atomic_dir(out) as staging:
        objects = _write_all(staging, num_train=num_train, num_test=num_test, size=size, seed=seed, hard=hard)
    counts = {name: sum(o.name == name for o in objects) for name in class_names(hard)}
    return SynthReport(
        out_dir=str(out),
        num_train=num_train,
        num_test=num_test,
        size=size,
        seed=seed,
        hard=hard,
        objects=counts,
        difficult=sum(o.difficult for o in objects),
    )


def class_names(hard: bool) -> tuple[str, ...]:
    return HARD_CLASS_NAMES if hard else CLASS_NAMES


def _write_all(root: Path, *, num_train: int, num_test: int, size: int, seed: int, hard: bool) -> list[SynthObject]:
    (root / "JPEGImages").mkdir()
    (root / "Annotations").mkdir()
    (root / "label_list.txt").write_text("".join(f"{name}\n" for name in class_names(hard)))
    every: list[SynthObject] = []
    for split_id, ((split, list_name), count) in enumerate(zip(_SPLITS, (num_train, num_test))):
        lines = []
        for index in range(count):
            stem = f"{split}_{index:05d}"
            rng = np.random.default_rng([seed, split_id, index])
            image, objects = render_image(rng, size, hard=hard)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f"OpenCV could not encode {stem}.jpg")
            (root / "JPEGImages" / f"{stem}.jpg").write_bytes(jpeg.tobytes())
            (root / "Annotations" / f"{stem}.xml").write_text(voc_xml(f"{stem}.jpg", size, objects))
            lines.append(f"JPEGImages/{stem}.jpg Annotations/{stem}.xml\n")
            every += objects
        (root / list_name).write_text("".join(lines))
    return every


# --- drawing ------------------------------------------------------------------------------------


def render_image(rng: np.random.Generator, size: int, *, hard: bool = False) -> tuple[np.ndarray, list[SynthObject]]:
    """One BGR image with its objects; everything random comes from ``rng``."""
    names = class_names(hard)
    image = _background(rng, size)
    if hard:
        _clutter(rng, image)
    owner = np.full((size, size), -1, np.int32)  # which object each pixel shows (-1 = background)
    full_area: list[int] = []
    placed: list[tuple[int, tuple[int, int, int, int]]] = []  # (class index, box)
    for _ in range(int(rng.integers(1, (HARD_MAX_OBJECTS if hard else MAX_OBJECTS) + 1))):
        for _attempt in range(20):
            cls = int(rng.integers(len(names)))
            extent = float(np.exp(rng.uniform(np.log(MIN_EXTENT * size), np.log(MAX_EXTENT * size))))
            draw = _shape_drawer(rng, names[cls], extent, size)
            alone = np.zeros((size, size), np.uint8)
            box = draw(alone, 1, cv2.LINE_8)
            if any(_iou(box, other) > MAX_IOU for _, other in placed):
                continue
            trial = owner.copy()
            trial[alone > 0] = len(placed)
            if any((trial == i).sum() < MIN_VISIBLE_ANY * area for i, area in enumerate(full_area)):
                continue
            colour = _contrasting_colour(rng, image, alone > 0)
            draw(image, colour, cv2.LINE_AA)
            owner = trial
            full_area.append(int(alone.sum()))
            placed.append((cls, box))
            break
    objects = []
    for i, (cls, box) in enumerate(placed):
        visible = (owner == i).sum() / full_area[i]
        longest = max(box[2] - box[0], box[3] - box[1]) + 1
        difficult = bool(longest < TINY_EXTENT * size or visible < MIN_VISIBLE_EASY)
        objects.append(SynthObject(names[cls], box, difficult))
    return image, objects


DrawFn = Callable[[np.ndarray, "int | tuple[int, int, int]", int], tuple[int, int, int, int]]


def _shape_drawer(rng: np.random.Generator, name: str, extent: float, size: int) -> DrawFn:
    """A function drawing one shape (fixed geometry) on a canvas and returning its inclusive box."""
    half = max(extent / 2.0, 2.0)
    cx = rng.uniform(half, size - 1 - half)
    cy = rng.uniform(half, size - 1 - half)
    if name == "circle":
        centre, radius = (int(round(cx)), int(round(cy))), int(round(half))

        def circle(canvas, colour, line):
            cv2.circle(canvas, centre, radius, colour, -1, line)
            return (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius)

        return circle
    if name == "square":
        x0, y0 = int(round(cx - half)), int(round(cy - half))
        side = int(round(2 * half))

        def square(canvas, colour, line):
            cv2.rectangle(canvas, (x0, y0), (x0 + side, y0 + side), colour, -1, line)
            return (x0, y0, x0 + side, y0 + side)

        return square
    contours = _outline(name, cx, cy, half) if name in ("ring", "frame") else [_polygon(rng, name, cx, cy, half)]

    def polygon(canvas, colour, line):
        cv2.fillPoly(canvas, contours, colour, line)  # a second contour inside the first is a hole
        (x0, y0), (x1, y1) = contours[0].min(axis=0), contours[0].max(axis=0)
        return (int(x0), int(y0), int(x1), int(y1))

    return polygon


def _outline(name: str, cx: float, cy: float, half: float) -> list[np.ndarray]:
    """A ring or a frame: the outer contour and, inside it, the hole's, whose stroke is a third of the radius."""
    centre = (int(round(cx)), int(round(cy)))
    contours = []
    for radius in (int(round(half)), int(round(half * 2 / 3))):
        if name == "ring":
            contours.append(cv2.ellipse2Poly(centre, (radius, radius), 0, 0, 360, 10))
        else:
            x0, y0, x1, y1 = centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius
            contours.append(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.int32))
    return contours


_CORNERS = {"triangle": 3, "pentagon": 5, "hexagon": 6}


def _polygon(rng: np.random.Generator, name: str, cx: float, cy: float, half: float) -> np.ndarray:
    """The integer vertices of a polygon shape inscribed in the circle of radius ``half``, rotated at random."""
    if name == "cross":  # a plus sign whose arms are a third of its span wide: 12 corners
        arm = np.arctan2(1, 3)
        offsets = (np.arange(4)[:, None] * (np.pi / 2) + [-arm, arm, np.pi / 4]).ravel()
        radii = np.tile([1.0, 1.0, np.sqrt(0.2)], 4)
    else:
        radii = np.tile([1.0, 0.4], 5) if name == "star" else np.ones(_CORNERS[name])
        offsets = np.arange(len(radii)) * (2 * np.pi / len(radii))
    angles = rng.uniform(0, 2 * np.pi) + offsets
    return (
        np.stack([cx + half * radii * np.cos(angles), cy + half * radii * np.sin(angles)], axis=1)
        .round()
        .astype(np.int32)
    )


def _clutter(rng: np.random.Generator, image: np.ndarray) -> None:
    """Thin unlabelled lines and arcs, in colours of their own, drawn before any object."""
    size = image.shape[0]
    for _ in range(int(rng.integers(0, HARD_MAX_CLUTTER + 1))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        thickness = int(rng.integers(1, 3))
        if rng.random() < 0.5:
            a, b = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, thickness, cv2.LINE_AA)
        else:
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(size // 10, size // 2, 2))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), start, start + float(rng.uniform(40, 200)),
                        colour, thickness, cv2.LINE_AA)  # fmt: skip


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Noise, a gradient or stripes in muted colours, plus a little grain."""
    kind = int(rng.integers(3))
    base = rng.uniform(50, 200, 3)
    if kind == 0:
        image = base + rng.normal(0, rng.uniform(8, 25), (size, size, 3))
        image = cv2.GaussianBlur(image, (3, 3), 0)
    else:
        theta = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        along = xx * np.cos(theta) + yy * np.sin(theta)
        other = np.clip(base + rng.uniform(-70, 70, 3), 0, 255)
        if kind == 1:
            t = (along - along.min()) / max(np.ptp(along), 1e-6)
        else:
            t = 0.5 + 0.5 * np.sin(2 * np.pi * along / rng.uniform(5, 18) + rng.uniform(0, 2 * np.pi))
            other = base + (other - base) * 0.5  # stripes stay low in contrast
        image = base * (1 - t[..., None]) + other * t[..., None]
    image = image + rng.normal(0, 4, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _contrasting_colour(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """A saturated colour whose brightness differs clearly from the pixels it will cover."""
    under = image[mask].astype(np.float64).mean(axis=0) if mask.any() else np.full(3, 128.0)
    best, best_gap = (0, 0, 0), -1.0
    for _ in range(12):
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(150, 256), rng.integers(40, 256)]]])
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)
        gap = abs(_luma(bgr) - _luma(under))
        if gap > best_gap:
            best, best_gap = tuple(int(c) for c in bgr), gap
        if gap > 70:
            break
    return best


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (_area(a) + _area(b) - inter)


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0] + 1) * (box[3] - box[1] + 1)


def _luma(bgr: np.ndarray) -> float:
    return float(0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2])


# --- annotation ---------------------------------------------------------------------------------


def voc_xml(filename: str, size: int, objects: list[SynthObject]) -> str:
    """The PASCAL VOC annotation of one image."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "slimdet synthetic shapes"
    dims = ET.SubElement(root, "size")
    for tag, value in (("width", size), ("height", size), ("depth", 3)):
        ET.SubElement(dims, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = str(int(obj.difficult))
        box = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
