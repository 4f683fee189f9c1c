"""Deprecated alias of :mod:`animeparse.demo.synth` (the synthetic face generator moved into the demo room); kept so
``import animeparse.synth`` in existing scripts and tests keeps working. Import from ``animeparse.demo.synth``."""

from .demo.synth import LR_CONVENTION, FaceParams, generate_face, render_face, sample_params, write_demo_data

__all__ = ["LR_CONVENTION", "FaceParams", "generate_face", "render_face", "sample_params", "write_demo_data"]
