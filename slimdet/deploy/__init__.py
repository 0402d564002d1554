"""Deployment: export a (pruned) detector for Paddle Inference / ONNX, and run it on images.

The modules share one file format, ``infer_cfg.yml`` (``infer_cfg.py``), which tells a deployed model how
to prepare an image (``preprocess.py``). Everything that runs a model on a prepared batch is a
``Detector`` (``predictor.py``): the exported graph through Paddle Inference or onnxruntime, or the
dygraph model itself, so export's parity check (``parity.py``) and ``slimdet infer`` (``infer.py``) use the
same code for all three.
"""
