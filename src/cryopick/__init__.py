"""cryopick: RELION's auto-picking pipeline as a GPU-aware Python library and Snakemake workflow."""

__version__ = "0.1.0"
