"""What a run leaves in its workdir: metrics, config, sample grids, progress.

Only process 0 writes (`enabled`); the others get no-op writers. Workdirs may
be local paths or bucket URLs (gs://...; `etils.epath`, with TensorFlow's
gfile where it is installed, as the [tpu] extra does).
"""

import io
import json
import math
import os
import sys
import time
import types

from etils import epath

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


def column_grid(columns) -> np.ndarray:
  """Side-by-side columns of images (each (N, H, W, C), uint8 or floats in
  [-1, 1]), one example per row, as one uint8 grid. A smaller column (an
  SR run's LR input) is shown at the largest's size, each of its pixels a
  block; grey columns are shown in grey beside colour ones."""
  columns = [np.asarray(c).astype(np.float32) / 127.5 - 1.0
             if np.asarray(c).dtype == np.uint8 else
             np.asarray(c, np.float32) for c in columns]
  size = max(c.shape[1] for c in columns)
  columns = [c.repeat(size // c.shape[1], 1).repeat(size // c.shape[1], 2)
             for c in columns]
  channels = max(c.shape[-1] for c in columns)
  columns = [np.repeat(c, channels, -1) if c.shape[-1] != channels else c
             for c in columns]
  rows = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
  return image_grid(rows, columns=len(columns))


def write_result(out: str, result: dict, wrote_also: str = '',
                 hidden: tuple = ()) -> str:
  """An evaluation command's end: `out`/result.json written, the result
  printed (less the `hidden` keys, e.g. per-image lists), the path logged."""
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, 'result.json')
  with open(path, 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps({k: v for k, v in result.items() if k not in hidden},
                   indent=1))
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.info('Wrote %s%s', path, wrote_also)
  return path


def is_remote(path) -> bool:
  return '://' in os.fspath(path)


def save_image(path, array: np.ndarray):
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format=path.suffix[1:] or 'png')
  path.write_bytes(buffer.getvalue())


def scatter_plot(path, points: np.ndarray, modes: np.ndarray, std: float,
                 title: str = ''):
  """Generated 2D points (blue) over the true mixture's modes (red)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
  draw_mixture(ax, points, modes, std)
  ax.set_title(title)
  ax.legend(loc='upper right', fontsize=7)
  _save_figure(fig, path)


def draw_mixture(ax, points, modes: np.ndarray, std: float, size: float = 2,
                 margin: float = 1.5):
  """Generated 2D points (blue) and the mixture's modes (red) on `ax`."""
  if points is not None:
    ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.4, c='tab:blue',
               label='generated')
  ax.scatter(modes[:, 0], modes[:, 1], s=15 * size, c='tab:red', marker='x',
             label=f'modes (std {std})')
  span = np.abs(modes).max() * margin
  ax.set_xlim(-span, span)
  ax.set_ylim(-span, span)
  ax.set_aspect('equal')


def _save_figure(fig, path):
  """Writes a matplotlib figure as PNG to a local or remote (gs://) path."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig.tight_layout()
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png')
  plt.close(fig)
  path.write_bytes(buffer.getvalue())


def plot_curves(path, history: list[dict]):
  """One panel per metric of `history` ([{'step': s, name: value}, ...])."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  names = sorted({k for record in history for k in record} - {'step'})
  if not names:
    return
  columns = min(4, len(names))
  rows = math.ceil(len(names) / columns)
  fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.4 * rows),
                           dpi=100, squeeze=False)
  for ax, name in zip(axes.flat, names):
    points = [(r['step'], r[name]) for r in history
              if name in r and math.isfinite(r[name])]
    if points:
      ax.plot(*zip(*points), marker='.')
    ax.set_title(name.removeprefix('eval/'), fontsize=9)
    ax.set_xlabel('step', fontsize=8)
    ax.tick_params(labelsize=7)
  for ax in list(axes.flat)[len(names):]:
    ax.axis('off')
  _save_figure(fig, path)


def draw_samples(path, samples: np.ndarray, dataset_name: str):
  """A grid of generated images, or generated 2D points over the mixture."""
  if samples.ndim == 4:
    save_image(path, image_grid(samples))
  else:
    from jaxgan import input_pipeline  # pylint: disable=g-import-not-at-top
    modes, std = input_pipeline.mixture_modes(dataset_name)
    scatter_plot(path, samples, modes, std, dataset_name)


class MetricWriter:
  """metrics.jsonl, TensorBoard scalars, config.json and samples/*.png."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.workdir = epath.Path(workdir)
    self.enabled = enabled
    self._tb = None
    # Bucket objects cannot be appended to: remote metrics.jsonl is rewritten.
    self._lines = None if not is_remote(workdir) else []
    if enabled:
      self.workdir.mkdir(parents=True, exist_ok=True)
      if self._lines is None:
        # Local event files need no TensorFlow: TensorBoard's own switch
        # (the module tensorboard.compat.notf) makes it use its stub rather
        # than import TensorFlow, which costs seconds and prints notices.
        sys.modules.setdefault('tensorboard.compat.notf',
                               types.ModuleType('tensorboard.compat.notf'))
      from tensorboard.summary import Writer  # pylint: disable=g-import-not-at-top
      self._tb = Writer(os.fspath(self.workdir / 'tensorboard'))
      if self._lines is not None and self._jsonl_path.exists():
        self._lines = self._jsonl_path.read_text().splitlines(keepends=True)

  @property
  def _jsonl_path(self) -> epath.Path:
    return self.workdir / 'metrics.jsonl'

  def drop_after(self, step: int):
    """Forgets records of steps after `step` (a resumed run redoes them)."""
    if not self.enabled or not self._jsonl_path.exists():
      return
    lines = [l for l in self._jsonl_path.read_text().splitlines(keepends=True)
             if l.strip() and json.loads(l)['step'] <= step]
    self._jsonl_path.write_text(''.join(lines))
    if self._lines is not None:
      self._lines = lines

  def write_config(self, config):
    if self.enabled:
      (self.workdir / 'config.json').write_text(
          config.to_json_best_effort(indent=2, sort_keys=True))

  def _append(self, record: dict):
    line = json.dumps(record) + '\n'
    if self._lines is None:
      with open(self._jsonl_path, 'a') as f:
        f.write(line)
    else:
      self._lines.append(line)
      self._jsonl_path.write_text(''.join(self._lines))

  def write_scalars(self, step: int, scalars: dict[str, float]):
    if not self.enabled:
      return
    self._append({'step': step, 'time': time.time(), **scalars})
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)
    self._tb.flush()

  def write_warning(self, step: int, name: str, message: str):
    """A {"step", "time", "warning", "message"} record in metrics.jsonl
    (training health, jaxgan/health.py)."""
    if self.enabled:
      self._append({'step': step, 'time': time.time(), 'warning': name,
                    'message': message})

  def write_json(self, name: str, value):
    if self.enabled:
      (self.workdir / name).write_text(json.dumps(value, indent=1) + '\n')

  def sample_path(self, step: int) -> str:
    return os.fspath(self.workdir / 'samples' / f'step_{step:06d}.png')

  def close(self):
    if self.enabled:
      self._tb.close()


class Progress:
  """A progress bar with steps/s, ETA and the latest losses.

  The bar starts once the first dispatch has finished (`first_done`): that
  one includes compiling the step, which would otherwise make the first ETA
  and the rate wrong for the rest of the run; its time is logged instead.
  """

  def __init__(self, start: int, total: int, enabled: bool = True):
    self._start, self._total, self._enabled = start, total, enabled
    self._bar = None
    self._shown = {}
    self._began = time.time()
    if enabled:
      from absl import logging  # pylint: disable=g-import-not-at-top
      logging.info('Compiling the training step and running step %d of %d.',
                   start + 1, total)

  def first_done(self, step: int):
    """The first dispatch is done (compilation included): start the bar."""
    if self._bar is not None or not self._enabled:
      return
    from absl import logging  # pylint: disable=g-import-not-at-top
    logging.info('First step done in %.1f s (compilation included).',
                 time.time() - self._began)
    self._bar = tqdm.tqdm(total=self._total, initial=step, unit='step',
                          dynamic_ncols=True, mininterval=1.0)
    self._bar.set_postfix(self._shown, refresh=False)
    self._last = step

  def update(self, step: int):
    if self._bar is not None:
      self._bar.update(step - self._last)
      self._last = step

  def set_metrics(self, metrics: dict[str, float]):
    self._shown = {k: f'{v:.3g}' for k, v in metrics.items()
                   if k.endswith('loss')}
    if self._bar is not None:
      self._bar.set_postfix(self._shown, refresh=False)

  def close(self):
    if self._bar is not None:
      self._bar.close()
