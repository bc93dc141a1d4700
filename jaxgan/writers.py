"""What a run leaves in its workdir: metrics, config, sample grids, progress.

Only process 0 writes (`enabled`); the others get no-op writers.
"""

import json
import math
import os
import time

import numpy as np
from PIL import Image
import tqdm


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
  """(N, H, W, C) in [-1, 1] -> one uint8 grid image with 2-pixel gaps."""
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.full((rows * (h + 2) + 2, columns * (w + 2) + 2, c), 255, np.uint8)
  pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i, image in enumerate(pixels):
    r, col = divmod(i, columns)
    grid[2 + r * (h + 2):2 + r * (h + 2) + h,
         2 + col * (w + 2):2 + col * (w + 2) + w] = image
  return grid[..., 0] if c == 1 else grid


def save_image(path, array: np.ndarray):
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  Image.fromarray(array).save(path)


def scatter_plot(path, points: np.ndarray, modes: np.ndarray, std: float,
                 title: str = ''):
  """Generated 2D points (blue) over the true mixture's modes (red)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
  ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, c='tab:blue',
             label='generated')
  ax.scatter(modes[:, 0], modes[:, 1], s=30, c='tab:red', marker='x',
             label=f'modes (std {std})')
  span = np.abs(modes).max() * 1.5
  ax.set_xlim(-span, span)
  ax.set_ylim(-span, span)
  ax.set_aspect('equal')
  ax.set_title(title)
  ax.legend(loc='upper right', fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path)
  plt.close(fig)


class MetricWriter:
  """metrics.jsonl, TensorBoard scalars, config.json and samples/*.png."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      from tensorboard.summary import Writer  # pylint: disable=g-import-not-at-top
      self._tb = Writer(os.path.join(workdir, 'tensorboard'))
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def drop_after(self, step: int):
    """Forgets records of steps after `step` (a resumed run redoes them)."""
    if not self.enabled:
      return
    self._jsonl.close()
    path = os.path.join(self.workdir, 'metrics.jsonl')
    with open(path) as f:
      lines = [l for l in f if l.strip() and json.loads(l)['step'] <= step]
    with open(path, 'w') as f:
      f.writelines(lines)
    self._jsonl = open(path, 'a')

  def write_config(self, config):
    if self.enabled:
      with open(os.path.join(self.workdir, 'config.json'), 'w') as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))

  def write_scalars(self, step: int, scalars: dict[str, float]):
    if not self.enabled:
      return
    record = {'step': step, 'time': time.time(), **scalars}
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)
    self._tb.flush()

  def write_samples(self, step: int, samples: np.ndarray, dataset) -> str:
    """A grid (images) or scatter over the mixture (2D points) of samples."""
    if not self.enabled:
      return ''
    path = os.path.join(self.workdir, 'samples', f'step_{step:06d}.png')
    if samples.ndim == 4:
      save_image(path, image_grid(samples))
    else:
      from jaxgan import input_pipeline  # pylint: disable=g-import-not-at-top
      modes, std = input_pipeline.mixture_modes(dataset.name)
      scatter_plot(path, samples, modes, std, f'{dataset.name}, step {step}')
    return path

  def close(self):
    if self.enabled:
      self._jsonl.close()
      self._tb.close()


class Progress:
  """A progress bar with steps/s, ETA and the latest losses."""

  def __init__(self, start: int, total: int, enabled: bool = True):
    self._bar = tqdm.tqdm(total=total, initial=start, unit='step',
                          dynamic_ncols=True, mininterval=1.0,
                          disable=not enabled)
    self._last = start

  def update(self, step: int):
    self._bar.update(step - self._last)
    self._last = step

  def set_metrics(self, metrics: dict[str, float]):
    shown = {k: f'{v:.3g}' for k, v in metrics.items() if k.endswith('loss')}
    self._bar.set_postfix(shown, refresh=False)

  def close(self):
    self._bar.close()
