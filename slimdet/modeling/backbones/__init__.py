"""Backbones by the name a legacy config gives them (``YOLOv3: {backbone: MobileNet}``).

Each class has ``from_section(section, name_prefix=...)`` that reads its own config section, exposes
``out_channels`` (finest first) and returns its feature maps finest first (strides 8, 16, 32).
"""

from slimdet.modeling.backbones.darknet import DarkNet
from slimdet.modeling.backbones.mobilenet_v1 import MobileNetV1
from slimdet.modeling.backbones.resnet import ResNet

BACKBONES = {"MobileNet": MobileNetV1, "ResNet": ResNet, "DarkNet": DarkNet}

__all__ = ["BACKBONES", "DarkNet", "MobileNetV1", "ResNet"]
