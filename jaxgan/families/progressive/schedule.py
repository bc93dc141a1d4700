"""The growing schedule: phases in images, as steps.

Karras et al.'s code (`train.py`, `TrainingSchedule`) trains 4x4 for
`lod_training_kimg`, then for each next resolution fades it in over
`lod_transition_kimg` and stabilises it for `lod_training_kimg` (600k images
each in the code, 800k in the paper), with a batch size per resolution. Here
each phase is a whole number of steps at its batch size (ceil(images /
batch)); the last (stable at the full resolution) lasts `final_images`
(default: as every stable phase). A phase is static (its level, whether it
fades, its batch size): the training loop compiles one iteration per phase.
The fade-in alpha of step s of a fading phase is (s - start) / steps, the
code's (images shown before the step) / (phase images): 0 at the phase's
first step, reaching 1 at the next phase's.
"""

import dataclasses
import math

import numpy as np

from jaxgan import errors


@dataclasses.dataclass(frozen=True)
class Phase:
  """One phase of growing; hashable (the loop's compile key)."""
  index: int
  level: int  # Works at 4 * 2**level pixels.
  fading: bool  # Fades level's block in (alpha from 0 to 1).
  start: int  # First step.
  end: int  # First step of the next phase.
  batch_size: int
  images_before: int  # Training images read before `start`.

  @property
  def resolution(self) -> int:
    return 4 * 2**self.level

  @property
  def steps(self) -> int:
    return self.end - self.start

  def name(self) -> str:
    return f'{self.resolution}x{self.resolution} ' + (
        'fade-in' if self.fading else 'stable')


def batch_size_of(level: int, batch_sizes, default: int) -> int:
  """The batch size of a level: batch_sizes[level] (4x4 first), the last
  entry beyond its end, `default` when there are none."""
  if not batch_sizes:
    return default
  return int(batch_sizes[min(level, len(batch_sizes) - 1)])


def make_phases(levels: int, stable_images: int, fade_images: int,
                batch_sizes=(), default_batch: int = 16,
                final_images: int = 0) -> list[Phase]:
  """Stable 4x4, then (fade-in, stable) for each level up to `levels`."""
  if stable_images < 1 or fade_images < 1:
    raise errors.ConfigError(
        'config.train.stable_images and fade_images must be at least 1 '
        f'(got {stable_images} and {fade_images})')
  plan = [(0, False, stable_images)]
  for level in range(1, levels + 1):
    plan.append((level, True, fade_images))
    plan.append((level, False, stable_images))
  if final_images:
    plan[-1] = plan[-1][:2] + (final_images,)
  phases, step, images = [], 0, 0
  for index, (level, fading, count) in enumerate(plan):
    batch = batch_size_of(level, batch_sizes, default_batch)
    steps = math.ceil(count / batch)
    phases.append(Phase(index, level, fading, step, step + steps, batch,
                        images))
    step += steps
    images += steps * batch
  return phases


def phase_at(phases: list[Phase], step: int) -> Phase:
  """The phase of `step` (the last one from its end on)."""
  for phase in phases:
    if step < phase.end:
      return phase
  return phases[-1]


def alpha(phase: Phase, step):
  """The fade-in alpha at `step` (numbers or traced): 1 when stable."""
  if not phase.fading:
    return 1.0
  return (step - phase.start) / phase.steps


def examples_seen(phases: list[Phase], step: int) -> int:
  """Training images read before `step`."""
  phase = phase_at(phases, step)
  return phase.images_before + (step - phase.start) * phase.batch_size


def positions(phases: list[Phase], step: int) -> np.ndarray:
  """The stream positions of step's batch (images_before + its rows)."""
  phase = phase_at(phases, step)
  first = examples_seen(phases, step)
  return first + np.arange(phase.batch_size, dtype=np.int64)
