"""Inference: batched generation, the evaluation runner and the street-distribution probe."""

from .generation import generate_answers


__all__ = ["generate_answers"]
