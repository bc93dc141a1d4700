"""Super-resolution data: HR images, crops of them as a function of (seed, step).

The paired family's `super_resolution` data (`config.data.name`): batches are
`{'target': (B, crop, crop, C)}` uint8 HR crops; the LR source is made from
each crop on the device (`families.paired`, MATLAB's bicubic downscale), so
the host only crops. Training images are every file under `data.data_dir`
matching `data.pattern` (BSD100's `*_HR.png` of the SelfExSR release, or any
folder), of any sizes; each example is a random `crop_size` crop with a
horizontal flip and a rotation by a multiple of 90 degrees (Ledig et al.'s
96x96 crops; the flips and rotations of EDSR and ESRGAN), drawn from (seed,
epoch, example index): fresh every epoch, the same after a resume.

Evaluation is on a benchmark set (`data.eval_set`: set5, set14, bsd100 under
`data.sr_dir`, or a folder), whole images, scored by `sr_eval.py`'s
protocol. Never train on the evaluation set: `PairedData` refuses a training
folder that holds the evaluation images.
"""

import pathlib

import jax
import numpy as np
from absl import logging

from jaxgan import errors
from jaxgan.families.paired import sr_eval
from jaxgan import imresize
from jaxgan import input_pipeline


def _training_paths(data) -> list[pathlib.Path]:
  root = pathlib.Path(data.data_dir or '')
  if not data.data_dir or not root.is_dir():
    raise input_pipeline.DataError(
        f'config.data.data_dir={data.data_dir!r} is not a folder: point it at '
        'the HR training images (e.g. data/sr/BSD100/image_SRF_4 with '
        "config.data.pattern='*_HR.png', after extracting "
        '../shared/data/sr-benchmarks/bsd100-srf4.tar.gz into data/sr)')
  paths = sorted(p for p in root.rglob(data.pattern) if p.is_file() and
                 p.suffix.lower() in input_pipeline.IMAGE_EXTENSIONS)
  if not paths:
    raise input_pipeline.DataError(
        f'{root} holds no images matching {data.pattern!r}')
  return paths


class HRData:
  """HR training crops and an evaluation set, for super-resolution."""

  def __init__(self, config):
    data = self.data = config.data
    self.config = config
    self.scale = data.scale
    crop = data.crop_size
    if crop % self.scale:
      raise errors.ConfigError(
          f'config.data.crop_size={crop} does not divide by the scale '
          f'{self.scale}: the LR crop would not be whole (use e.g. 96 for x2, '
          'x3 and x4)')
    paths = _training_paths(data)
    self.images, self.paths, bad = [], [], []
    for path in paths:
      try:
        image = sr_eval._read(path)  # pylint: disable=protected-access
      except (OSError, ValueError, SyntaxError) as e:
        bad.append((path, e))
        continue
      if min(image.shape[:2]) < crop:
        raise input_pipeline.DataError(
            f'{path} is {image.shape[1]}x{image.shape[0]}, smaller than the '
            f'{crop}x{crop} HR crop: lower config.data.crop_size or remove '
            'the image')
      self.images.append(image)
      self.paths.append(path)
    if bad:
      logging.warning('Skipped %d unreadable image(s), e.g. %s (%s)',
                      len(bad), bad[0][0], bad[0][1])
    if not self.images:
      raise input_pipeline.DataError(f'none of the {len(paths)} images under '
                                     f'{data.data_dir} could be read')
    channels = {im.shape[-1] for im in self.images}
    if len(channels) > 1:
      # Grey images in a colour set (BSD100 has none; Set14 has one) are
      # trained as colour.
      self.images = [np.repeat(im, 3, -1) if im.shape[-1] == 1 else im
                     for im in self.images]
    self.channels = self.images[0].shape[-1]
    self.train = self.images  # The paired family's name for them.
    self.eval = None
    if data.eval_set:
      self.eval = sr_eval.load_set(data.eval_set, self.scale, data.sr_dir)
      held = {_fingerprint(im) for im in self.eval.hr}
      overlap = [p for p, im in zip(self.paths, self.images)
                 if _fingerprint(imresize.modcrop(im, self.scale)) in held]
      if overlap:
        raise errors.ConfigError(
            f'{len(overlap)} training image(s) (e.g. {overlap[0]}) are in the '
            f'evaluation set {data.eval_set}: train on another folder')
    self.num_examples = len(self.images)
    self.name = f'super_resolution:{data.data_dir}'

  @property
  def spec(self) -> dict:
    crop, c = self.data.crop_size, self.channels
    lr = crop // self.scale
    return {'source': (lr, lr, c), 'target': (crop, crop, c),
            'num_examples': self.num_examples}

  def describe(self) -> str:
    n_eval = 0 if self.eval is None else len(self.eval.hr)
    return (f'{self.name}: {self.num_examples:,} HR training images, '
            f'{self.data.crop_size}x{self.data.crop_size} crops, x{self.scale}'
            f'; evaluation: {self.data.eval_set or "none"} ({n_eval} images)')

  def meta(self) -> dict:
    return {'dataset': self.name,
            'sample_shape': list(self.spec['target']),
            'source_shape': list(self.spec['source']), 'num_classes': 0,
            'num_examples': self.num_examples, 'scale': self.scale}

  def crops(self, seed: int, epochs: np.ndarray, indices: np.ndarray):
    """(top, left, flip, quarter turns) of each example: a pure function of
    (seed, epoch, example index)."""
    key = epochs.astype(np.int64) * self.num_examples + indices
    crop = self.data.crop_size
    sizes = np.array([self.images[i].shape[:2] for i in indices])
    top = np.floor(input_pipeline.hash_uniform(seed, key, 1) *
                   (sizes[:, 0] - crop + 1)).astype(np.int64)
    left = np.floor(input_pipeline.hash_uniform(seed, key, 2) *
                    (sizes[:, 1] - crop + 1)).astype(np.int64)
    augment = self.data.flip
    flip = (input_pipeline.hash_uniform(seed, key, 3) < 0.5) & augment
    turns = np.floor(input_pipeline.hash_uniform(seed, key, 4) * 4).astype(
        np.int64) * augment
    return top, left, flip, turns

  def batch(self, step: int, process_index: int = 0,
            process_count: int = 1) -> dict[str, np.ndarray]:
    """This process's rows of the global batch of `step`: {'target': (b,
    crop, crop, C)} uint8."""
    seed = self.config.seed
    indices, epochs = input_pipeline.local_examples(
        seed, step, self.config.train.batch_size, self.num_examples,
        process_index, process_count)
    crop = self.data.crop_size
    out = []
    for i, t, l, f, r in zip(indices, *self.crops(seed, epochs, indices)):
      patch = self.images[i][t:t + crop, l:l + crop]
      patch = patch[:, ::-1] if f else patch
      out.append(np.rot90(patch, r))
    return {'target': np.ascontiguousarray(np.stack(out))}

  def batches(self, start_step: int):
    return input_pipeline.prefetched(
        lambda step: self.batch(step, jax.process_index(),
                                jax.process_count()), start_step)

  def eval_pairs(self, num: int | None = None, split=None):
    """Centre `crop_size` crops of the evaluation images (of `split`, a
    list of images such as `self.train`, when given; the training images
    without an evaluation set) and their LR: the sample grid's inputs."""
    if split is not None:
      images = split
    else:
      images = self.images if self.eval is None else self.eval.hr
    crop = self.data.crop_size
    images = [im for im in images if min(im.shape[:2]) >= crop]
    if not images:
      raise input_pipeline.DataError(
          f'no evaluation image is {crop}x{crop} or larger')
    n = len(images)
    rows = input_pipeline.spread_rows(n, num)
    targets = []
    for i in rows:
      im = images[i]
      top, left = (im.shape[0] - crop) // 2, (im.shape[1] - crop) // 2
      im = im[top:top + crop, left:left + crop]
      targets.append(np.repeat(im, self.channels, -1)
                     if im.shape[-1] != self.channels else im)
    targets = np.stack(targets)
    return {'source': np.stack([sr_eval.downscale(t, self.scale)
                                for t in targets]), 'target': targets}


def _fingerprint(image: np.ndarray) -> tuple:
  return image.shape, hash(image.tobytes())
