"""Models: the manifest of source models, fetching them (sha256-checked), building variants per
engine format (``build``), the inputs they are fed, and output fidelity against FP32.

Upstream of everything that runs a model: nothing here imports ``run``, ``devices`` or ``report``.
"""
