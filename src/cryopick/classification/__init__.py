"""Bayesian 2D classification as RELION's relion_refine does it (``cryopick refine``)."""

from cryopick.classification.job import Class2DJob, continued_params, run_class2d
from cryopick.classification.params import Class2DConfig, Class2DParams

__all__ = ["Class2DConfig", "Class2DJob", "Class2DParams", "continued_params", "run_class2d"]
