"""The training input size ``--nproc auto`` decides by: an average batch's side, read from the config alone."""

from pathlib import Path

from slimdet.config import load_config
from slimdet.config.sizes import train_input_size

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_multi_scale_training_counts_the_mean_of_its_sizes_and_a_fixed_one_its_own():
    legacy = load_config(CONFIGS / "yolov3_mobilenet_v1_voc.yml").to_dict()  # RandomShape 320 … 608, step 32
    assert train_input_size(legacy) == 464
    shapes = load_config(CONFIGS / "shapes_yolov3_mobilenet_v1.yml", ["TrainReader.batch_transforms=[]"]).to_dict()
    shapes["TrainReader"]["sample_transforms"].append({"type": "ResizeImage", "target_size": [96, 160]})
    assert train_input_size(shapes) == 128  # no RandomShape: the ResizeImage sizes
    del shapes["TrainReader"]
    assert train_input_size(shapes) == 128  # no training reader: the eval size (EvalReader's ResizeImage)
