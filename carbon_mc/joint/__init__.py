"""Scenarios drawn together from common random numbers.

- `paired`: two scenarios compared (B/A, B-A, P(B < A)), inputs they share drawn once for both.
- `training_and_serving`: a model's life, its training run plus its deployment, summed per draw.
"""

from .paired import compare
from .training_and_serving import lifecycle

__all__ = ["compare", "lifecycle"]
