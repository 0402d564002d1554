"""The sections a PaddleDetection 0.x YOLOv3 config may hold, key by key, as ``TypedDict`` classes.

Sections stay plain dicts (model and data builders take ``Config.to_dict()``-shaped mappings), so their
shape is declared with ``TypedDict``: mypy understands it, ``checks.py`` enforces it, and ``grep`` finds
every key. Keys are the legacy constructor arguments. Some are accepted only at the value that
changes nothing (``Off``: slimdet does not build DropBlock, SPP, IoU-aware heads...), so a config
that turns them on fails here instead of training a different model. Keys read by no slimdet code but
harmless (``bufsize``, ``use_process``, ``norm_type``...) are declared too, so legacy files load as they are.

Transforms are only checked to be mappings with a string ``type``: ``slimdet.data`` validates names and
arguments. No annotations future-import here: 3.11's TypedDict needs real ``Required[...]`` objects.
"""

from typing import Annotated, Any, Literal, Required, TypedDict

from slimdet.config.checks import AtLeast, Note, Open

Positive = Annotated[int, AtLeast(1)]
NonNegative = Annotated[float, AtLeast(0)]
Off = Annotated[Literal[False], Note("slimdet does not implement this option")]  # accepted only when off
NormType = Literal["bn", "sync_bn", "affine_channel"]

# --- model -----------------------------------------------------------------------------------------


class YOLOv3Section(TypedDict, total=False):
    backbone: Required[Literal["MobileNet", "ResNet", "DarkNet"]]
    yolo_head: Literal["YOLOv3Head"]
    use_fine_grained_loss: bool  # 0.x shared it from the global key, which is what slimdet reads


class MobileNetSection(TypedDict, total=False):
    norm_type: NormType
    norm_decay: NonNegative
    conv_decay: NonNegative
    conv_group_scale: Positive
    conv_learning_rate: NonNegative
    with_extra_blocks: Off  # SSD-only extra blocks
    extra_block_filters: list[list[int]]
    weight_prefix_name: str


class ResNetSection(TypedDict, total=False):
    depth: Literal[18, 34, 50, 101, 152]
    freeze_at: int
    norm_type: NormType
    freeze_norm: bool
    norm_decay: NonNegative
    variant: Literal["a", "b", "c", "d"]
    feature_maps: list[int]
    dcn_v2_stages: list[int]
    weight_prefix_name: str
    nonlocal_stages: list[int]
    gcb_stages: list[int]
    gcb_params: dict[str, Any]
    lr_mult_list: list[float]


class DarkNetSection(TypedDict, total=False):
    depth: Literal[53]
    norm_type: NormType
    norm_decay: NonNegative
    weight_prefix_name: str
    freeze_at: int


class MultiClassNMS(TypedDict, total=False):
    type: Literal["MultiClassNMS"]  # optional: 0.x read a plain mapping as MultiClassNMS arguments
    score_threshold: float
    nms_top_k: int
    keep_top_k: int
    nms_threshold: float
    normalized: bool
    nms_eta: float
    background_label: int


class YOLOv3HeadSection(TypedDict, total=False):
    anchor_masks: list[list[int]]
    anchors: list[list[float]]
    norm_decay: NonNegative
    yolo_loss: Literal["YOLOv3Loss"]
    nms: MultiClassNMS
    num_classes: Positive  # 0.x shared it from the global key, which is what slimdet reads
    conv_block_num: Positive
    downsample: list[int]
    scale_x_y: float
    clip_bbox: bool
    weight_prefix_name: str
    drop_block: Off
    block_size: int
    keep_prob: float
    coord_conv: Off
    spp: Off
    iou_aware: Off
    iou_aware_factor: float


class YOLOv3LossSection(TypedDict, total=False):
    ignore_thresh: float
    label_smooth: bool
    use_fine_grained_loss: bool  # shared from the global key
    batch_size: int  # 0.2/0.3 stub; 0.4 took the batch size from TrainReader
    train_batch_size: int
    downsample: list[int]
    scale_x_y: float
    iou_loss: None  # IoU losses belong to PP-YOLO, not to these models
    iou_aware_loss: None
    match_score: Off


# --- optimisation ----------------------------------------------------------------------------------


class PiecewiseDecay(TypedDict, total=False):
    type: Required[Literal["PiecewiseDecay"]]
    gamma: float | list[float]
    milestones: list[int]
    values: list[float] | None


class LinearWarmup(TypedDict, total=False):
    type: Required[Literal["LinearWarmup"]]
    start_factor: NonNegative
    steps: Annotated[int, AtLeast(0)]


class LearningRateSection(TypedDict, total=False):
    base_lr: NonNegative
    schedulers: list[PiecewiseDecay | LinearWarmup]


class Momentum(TypedDict, total=False):
    type: Required[Literal["Momentum"]]
    momentum: float
    use_nesterov: bool


class Regularizer(TypedDict, total=False):
    type: Required[Literal["L1", "L2"]]
    factor: NonNegative


class OptimizerBuilderSection(TypedDict, total=False):
    optimizer: Momentum
    regularizer: Regularizer | None
    clip_grad_by_norm: float | None


# --- data ------------------------------------------------------------------------------------------


class VOCDataSet(TypedDict, total=False):
    type: Required[Literal["VOCDataSet"]]
    dataset_dir: Required[str]
    anno_path: Required[str]  # a list of "image xml" lines, relative to dataset_dir
    image_dir: str | None
    use_default_label: bool  # true: the 20 VOC classes; false: read dataset_dir/label_list
    label_list: str
    with_background: bool
    sample_num: int
    skip_empty: bool  # slimdet: drop images without objects (default: in training only)


class COCODataSet(TypedDict, total=False):
    type: Required[Literal["COCODataSet"]]
    dataset_dir: Required[str]
    anno_path: Required[str]
    image_dir: str
    with_background: bool
    sample_num: int
    skip_empty: bool


class ImageFolder(TypedDict, total=False):
    type: Required[Literal["ImageFolder"]]
    dataset_dir: str | None
    image_dir: str | None
    anno_path: str | None  # where the class names come from: a label list or a COCO json
    use_default_label: bool
    label_list: str
    with_background: bool
    sample_num: int


class Transform(TypedDict, total=False):
    type: Required[str]


class InputsDef(TypedDict, total=False):
    fields: list[str]
    num_max_boxes: Positive
    image_shape: list[int | None]
    use_dataloader: bool
    iterable: bool


class ReaderSection(TypedDict, total=False):
    inputs_def: InputsDef
    dataset: VOCDataSet | COCODataSet | ImageFolder
    sample_transforms: list[Annotated[Transform, Open()]]
    batch_transforms: list[Annotated[Transform, Open()]]
    batch_size: Positive
    shuffle: bool
    drop_last: bool
    drop_empty: bool
    mixup_epoch: int
    cutmix_epoch: int
    class_aware_sampling: Off
    worker_num: Annotated[int, AtLeast(0)]
    use_process: bool
    use_fine_grained_loss: bool  # shared from the global key
    num_classes: Positive  # shared from the global key
    bufsize: int
    memsize: str
    devices_num: int
    num_trainers: int


# --- the whole file --------------------------------------------------------------------------------


class LegacyGlobals(TypedDict, total=False):
    """Global keys 0.x configs carry that slimdet accepts without needing (``log_smooth_window`` also
    stands in for ``log_iter`` when that is absent: 0.5 renamed the line)."""

    log_smooth_window: Positive
    train_batch_size: Positive  # 0.x copied TrainReader.batch_size here after every merge
    use_xpu: Off
    use_ema: Off
    ema_decay: float
    save_prediction_only: bool
    weight_prefix_name: str
    norm_type: NormType


class Sections(TypedDict, total=False):
    """Every section slimdet knows, in the order ``config show`` prints them."""

    YOLOv3: YOLOv3Section
    MobileNet: MobileNetSection
    ResNet: ResNetSection
    DarkNet: DarkNetSection
    YOLOv3Head: YOLOv3HeadSection
    YOLOv3Loss: YOLOv3LossSection
    LearningRate: LearningRateSection
    OptimizerBuilder: OptimizerBuilderSection
    TrainReader: ReaderSection
    EvalReader: ReaderSection
    TestReader: ReaderSection
