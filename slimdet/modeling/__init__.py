"""YOLOv3 with PaddleDetection 0.x parameter names: backbones, head, post-processing, loss, builder.

Entry point: ``slimdet.modeling.build.build_model(cfg, name_prefix="")``.
"""
