"""Particle pickers: Laplacian-of-Gaussian (template-free) and, later, template matching."""
