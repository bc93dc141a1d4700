"""Controllable generation: what to feed a generator to choose its output.

Each function returns generator inputs (latents z, and classes for
conditional models) laid out as grids, or edits latents; `jaxgan.sample`'s
modes draw them:

- `class_rows`: one row per class, the same noise down each column;
- `interpolate` (`lerp`, `slerp`): between two latents, or two classes;
- `code_sweeps`: InfoGAN, one code varied per row, the rest fixed;
- `latent_direction`: gradient ascent on a classifier's log-probability of a
  target class with respect to z ("tweak the noise vector to change one
  feature"), returning the path from the start to the edited latent.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def lerp(a, b, t):
  """(1 - t) a + t b, for t of shape (T,): (T, ...) points."""
  t = np.asarray(t, np.float64).reshape((-1,) + (1,) * np.ndim(a))
  return (1 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)


def slerp(a, b, t):
  """Spherical interpolation (Shoemake 1985), as White (2016) advises for
  Gaussian latents: a straight line between two draws passes through
  latents of atypically small norm, the great circle does not.

  Falls back to `lerp` for (anti)parallel endpoints.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.asarray(t, np.float64).reshape((-1,) + (1,) * a.ndim)
  cos = np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b))
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  if np.sin(omega) < 1e-6:
    return lerp(a, b, t.ravel())
  return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


INTERPOLATIONS = {'linear': lerp, 'slerp': slerp}


def interpolate(start, end, steps: int, method: str = 'slerp') -> np.ndarray:
  """`steps` points from `start` to `end` (both included), (steps, ...)."""
  if method not in INTERPOLATIONS:
    raise ValueError(f'unknown interpolation {method!r}: use one of '
                     f'{sorted(INTERPOLATIONS)}')
  return INTERPOLATIONS[method](start, end, np.linspace(0.0, 1.0, steps))


def class_rows(z: np.ndarray, num_classes: int):
  """(K * N latents, K * N classes): row k is class k, column j is z[j]."""
  n = len(z)
  return (np.tile(z, (num_classes, 1)),
          np.repeat(np.arange(num_classes, dtype=np.int32), n))


def class_interpolation(z: np.ndarray, start_class: int, end_class: int,
                        num_classes: int, steps: int):
  """Fixed z, the one-hot class moving linearly from one class to another.

  -> (steps latents, (steps, K) class vectors).
  """
  eye = np.eye(num_classes)
  vectors = lerp(eye[start_class], eye[end_class],
                 np.linspace(0.0, 1.0, steps))
  return np.repeat(z[None], steps, 0), vectors.astype(np.float32)


def code_sweeps(noise: np.ndarray, categorical: int, continuous: int,
                steps: int, value_range: float = 2.0):
  """InfoGAN sweeps, each row varying one code with the rest fixed.

  For each noise vector: a row over the `categorical` categories (when any),
  then for each continuous code a row of `steps` values in
  [-value_range, value_range] (the paper's Figure 2 goes to 2, beyond the
  training range [-1, 1]), the other codes at category 0 and value 0.
  Returns (noise rows (R * C, D), categories (R * C,), continuous
  (R * C, c), columns C).
  """
  columns = max(categorical, steps) if categorical else steps
  rows_noise, rows_cat, rows_cont = [], [], []
  values = np.linspace(-value_range, value_range, columns)
  for z in noise:
    if categorical:
      rows_cat.append(np.arange(columns) % categorical)
      rows_cont.append(np.zeros((columns, continuous)))
      rows_noise.append(np.repeat(z[None], columns, 0))
    for j in range(continuous):
      codes = np.zeros((columns, continuous))
      codes[:, j] = values
      rows_cat.append(np.zeros(columns, np.int64))
      rows_cont.append(codes)
      rows_noise.append(np.repeat(z[None], columns, 0))
  return (np.concatenate(rows_noise), np.concatenate(rows_cat).astype(np.int32),
          np.concatenate(rows_cont).astype(np.float32), columns)


def latent_direction(generate: Callable[[jax.Array], jax.Array],
                     log_probs: Callable[[jax.Array], jax.Array],
                     z: np.ndarray, target: int, num_steps: int = 100,
                     step_size: float = 0.05, num_frames: int = 8) -> dict:
  """Moves z up the gradient of log p(target | G(z)).

  `generate`: latents (B, D) -> samples, differentiable; `log_probs`:
  samples -> (B, K) log-probabilities. Each step moves every z by
  `step_size` along its normalised gradient (a fixed step length keeps the
  walk stable where the gradient is tiny or huge).

  Returns {'frames': (num_frames, B, D) latents from start to end,
  'start_prob', 'end_prob': p(target) of the first and last frame (B,),
  'start_class', 'end_class': argmax classes (B,), 'distance': ||z_end -
  z_start|| (B,), 'start_norm': ||z_start|| (B,)}.
  """
  objective = lambda z: jnp.sum(log_probs(generate(z))[:, target])
  grad_fn = jax.jit(jax.grad(objective))

  @jax.jit
  def walk(z):
    def step(z, _):
      g = grad_fn(z)
      norm = jnp.linalg.norm(g, axis=-1, keepdims=True)
      z = z + step_size * g / jnp.maximum(norm, 1e-12)
      return z, z
    _, path = jax.lax.scan(step, z, None, length=num_steps)
    return path

  z = jnp.asarray(z, jnp.float32)
  path = jnp.concatenate([z[None], walk(z)])  # (num_steps + 1, B, D)
  index = np.round(np.linspace(0, num_steps, num_frames)).astype(int)
  frames = np.asarray(path[index])
  first = np.asarray(jnp.exp(log_probs(generate(path[0]))))
  last = np.asarray(jnp.exp(log_probs(generate(path[-1]))))
  return {'frames': frames, 'start_prob': first[:, target],
          'end_prob': last[:, target], 'start_class': first.argmax(-1),
          'end_class': last.argmax(-1),
          'distance': np.linalg.norm(frames[-1] - frames[0], axis=-1),
          'start_norm': np.linalg.norm(frames[0], axis=-1)}
