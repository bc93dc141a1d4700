"""Serving an exported generator (`python -m jaxgan.export`): a serverless
handler (handler.py, onnxruntime, numpy and Pillow only) and its package
(package.py)."""
