"""Load a config: read the file and its includes, apply ``-o`` overrides, check everything, freeze.

All problems found in the overrides and in the merged config are reported together in one
``ConfigProblems`` error. Only file-level failures (missing file, YAML syntax, include cycle, a Python
tag) stop earlier, because nothing after them can be read.
"""

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_type_hints

from slimdet.config.checks import check, check_keys, typed_keys
from slimdet.config.defaults import section_with_defaults
from slimdet.config.geometry import geometry_problems
from slimdet.config.includes import merge, read_with_includes
from slimdet.config.overrides import override_key, parse_overrides
from slimdet.config.schema import LegacyGlobals, Positive, Sections
from slimdet.config.shipped import resolve_config_path
from slimdet.errors import ConfigError, did_you_mean

NOT_GLOBALS = ("path", "merged", "overrides")  # Config fields that are not keys of the file
MODEL_SECTIONS = ("YOLOv3", "YOLOv3Head", "YOLOv3Loss")  # every model reads them; unwritten, defaults fill them


class ConfigProblems(ConfigError):
    """Everything wrong with one config, as one error; ``problems`` keeps them apart for callers and tests."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = "" if len(self.problems) == 1 else f"{len(self.problems)} problems: "
        super().__init__(f"{source}: {count}{'; '.join(self.problems)}")


@dataclass(frozen=True, kw_only=True)  # keyword-only, so fields can keep the legacy file order
class Config:
    """A validated PaddleDetection 0.x YOLOv3 config: typed globals plus the merged sections.

    A frozen dataclass rather than pydantic: no extra dependency; every global is a field that grep
    finds and mypy checks (``cfg.max_iters`` is an ``int``); frozen, so no command can change a
    setting under another's feet. The field annotations are also the schema of the global keys:
    ``checks.py`` reads them, and fields with defaults are the defaults filled into ``to_dict()``.
    Sections stay plain data (``section()``, ``to_dict()``), which is what the builders take.
    """

    path: Path
    architecture: Literal["YOLOv3"]
    use_gpu: bool = True
    max_iters: Positive
    log_iter: Positive = 20  # 0.4 spelled it log_smooth_window
    save_dir: str = "output"
    snapshot_iter: Positive = 2000
    metric: Literal["VOC", "COCO"] = "VOC"
    map_type: Literal["11point", "integral"] = "11point"
    pretrain_weights: str | None = None
    weights: str | None = None
    num_classes: Positive
    use_fine_grained_loss: bool = False
    finetune_exclude_pretrained_params: tuple[str, ...] = ()
    merged: Mapping[str, Any] = field(default_factory=dict, repr=False)  # read it through to_dict()
    overrides: tuple[str, ...] = ()  # the -o items applied, in order (shared ones that reached it included)

    @property
    def name(self) -> str:
        """The file stem, e.g. 'yolov3_mobilenet_v1_voc' (legacy output folders are named after it)."""
        return self.path.stem

    @property
    def train_batch_size(self) -> int:
        """``TrainReader.batch_size`` (1 when unset): the images one process takes per training step."""
        return int(section_with_defaults(self.merged, "TrainReader")["batch_size"])

    def section(self, name: str) -> dict[str, Any]:
        """A deep copy of one section (``{}`` when the file leaves it to the defaults)."""
        known = typed_keys(Sections)[0]
        if name not in known:
            raise KeyError(f"unknown section {name!r}{did_you_mean(name, known)}")
        return copy.deepcopy(dict(self.merged.get(name) or {}))

    def to_dict(self) -> dict[str, Any]:
        """The whole merged config as plain data, defaults filled in; ``!Tag`` nodes are ``{'type': 'Tag', ...}``."""
        return copy.deepcopy(dict(self.merged))


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = (), *, shared: Sequence[str] = ()) -> Config:
    """Read ``path`` (with ``_READER_``/``_BASE_`` includes), apply ``-o`` items, validate, return a Config.

    ``shared`` are another config's ``-o`` items that this one gets too (distill-prune's teacher gets the
    student's), applied before ``overrides``. Those that set a section this config does not have (see
    ``_has_section``) are skipped: a MobileNet student's ``MobileNet.norm_decay=0`` means nothing to a
    ResNet teacher. ``Config.overrides`` records the items applied, in order.

    Raises ``ConfigError`` for file problems and ``ConfigProblems`` (a ConfigError) listing every
    problem of the overrides and of the merged config at once.
    """
    path = resolve_config_path(path)  # a shipped config by name when no such file exists here
    data = read_with_includes(path)
    applied = (*(item for item in shared if _has_section(data, override_key(item))), *overrides)
    layer, problems = parse_overrides(applied)
    merged = _ordered(_plain(merge(data, layer)))
    problems += _problems(merged)
    if problems:
        raise ConfigProblems(str(path), problems)
    return _build(path, merged, applied)


def _has_section(data: Mapping[str, Any], key: str) -> bool:
    """Whether a config (its files, includes merged) has the top-level ``key``, as far as shared overrides go.

    Only known sections can be missing: globals (``num_classes``) always apply, and an unknown key is
    kept so that it is reported. A config has the sections its files write and those its model is
    built from even when unwritten: the YOLOv3 sections and its backbone's (``YOLOv3.backbone``).
    """
    if key not in typed_keys(Sections)[0] or key in data or key in MODEL_SECTIONS:
        return True
    model = data.get("YOLOv3")
    return isinstance(model, Mapping) and model.get("backbone") == key


def _global_fields() -> list[Field[Any]]:
    return [f for f in fields(Config) if f.name not in NOT_GLOBALS]


def _problems(merged: Mapping[str, Any]) -> list[str]:
    hints = get_type_hints(Config, include_extras=True)
    globals_ = {f.name: hints[f.name] for f in _global_fields()}
    required = frozenset(f.name for f in _global_fields() if f.default is MISSING)
    schema = {**globals_, **typed_keys(LegacyGlobals)[0], **typed_keys(Sections)[0]}
    return (
        check_keys(merged, schema, required, path="")
        + _anchor_problems(merged.get("YOLOv3Head"))
        + geometry_problems(merged)
    )


def _anchor_problems(head: Any) -> list[str]:
    """Shapes the types cannot say: each anchor is a (w, h) pair, each mask index names an anchor.

    Checked only when both keys have the right types (otherwise that is the problem already reported).
    """
    if not isinstance(head, Mapping):
        return []
    anchors, masks = head.get("anchors"), head.get("anchor_masks")
    if check(anchors, list[list[float]] | None, "") or check(masks, list[list[int]] | None, ""):
        return []
    problems = [
        f"YOLOv3Head.anchors[{i}]: expected a [w, h] pair, got {anchor}"
        for i, anchor in enumerate(anchors or [])
        if len(anchor) != 2
    ]
    if anchors is not None and masks is not None:
        problems += [
            f"YOLOv3Head.anchor_masks: index {index} names no anchor (there are {len(anchors)})"
            for mask in masks
            for index in mask
            if not 0 <= index < len(anchors)
        ]
    return problems


def _build(path: Path, merged: Mapping[str, Any], overrides: Sequence[str]) -> Config:
    """Fill the global defaults and freeze."""
    values: dict[str, Any] = {}
    for f in _global_fields():
        if f.name in merged:
            values[f.name] = merged[f.name]
        elif f.name == "log_iter" and "log_smooth_window" in merged:
            values[f.name] = merged["log_smooth_window"]
        elif f.default is not MISSING:
            values[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    full = _ordered({**merged, **values})
    typed = {**values, "finetune_exclude_pretrained_params": tuple(values["finetune_exclude_pretrained_params"])}
    return Config(path=path, merged=full, overrides=tuple(overrides), **typed)


def _ordered(data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys in one fixed order, whatever the includes did: globals, legacy globals, sections.

    Problems are then reported, and ``config show`` prints, in that order; unknown keys go last.
    """
    order = [f.name for f in _global_fields()] + [*typed_keys(LegacyGlobals)[0], *typed_keys(Sections)[0]]
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(rank))))


def _plain(value: Any) -> Any:
    """Tagged mappings back to plain dicts, so the result dumps as ordinary YAML/JSON."""
    if isinstance(value, Mapping):
        return {key: _plain(entry) for key, entry in value.items()}
    if isinstance(value, list):
        return [_plain(entry) for entry in value]
    return value
