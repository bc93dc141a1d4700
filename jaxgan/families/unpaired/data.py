"""Unpaired data: two domains' images, each in its own order.

The layout CycleGAN's datasets ship in, `data_dir/trainA`, `trainB`,
`testA`, `testB` (`config.data.train_dirs`, `eval_dirs`), or any two
folders under data_dir, e.g. two class sub-folders of one folder
(`train/cat`, `train/dog` of CIFAR-10's PNG folders); or, with
`config.data.name` a tfds name such as `cycle_gan/horse2zebra`, that
dataset's splits of the same names (prepared in data_dir, downloaded or
from the original zip in config.data.manual_dir). Images load as the
paired family's do (`config.data.preprocess`, load_size, crop_size, flip):
resized once, then a random crop and flip per (seed, epoch, index).

The two domains are drawn in two independent orders, each a function of
(seed, step): domain A by the permutations of seed, B by those of
seed + B_SEED_OFFSET, every epoch of each visiting all its images once. The
authors draw B with `random.randint`, so their runs cannot resume exactly;
these can. An epoch is max(|A|, |B|) images (the authors' dataset length),
which the learning-rate schedule counts.
"""

import pathlib

import numpy as np
from PIL import Image

from jaxgan import input_pipeline
from jaxgan.families.paired import data as paired_data

DOMAINS = ('A', 'B')
# config.data.name of two image folders; any other name is a tfds dataset
# whose splits (train_dirs, eval_dirs) are the domains.
FOLDERS = 'unaligned'
# Domain B's order: the permutations of seed + this (A's: of seed).
B_SEED_OFFSET = 1_000_003


def _load(sources, data, load_hw=None) -> np.ndarray:
  """uint8 (N, H, W, C) of every readable image, resized to the load size.

  `sources`: image files, or (name, read) pairs whose read() gives a uint8
  (H, W, C) array (a tfds split's examples)."""
  mode = {1: 'L', 3: 'RGB'}.get(data.channels)
  images, bad = [], []
  for source in sources:
    try:
      if isinstance(source, tuple):
        image = source[1]()
        if mode and image.shape[-1] != data.channels:
          image = np.asarray(Image.fromarray(
              image[..., 0] if image.shape[-1] == 1 else image).convert(mode))
          image = image[..., None] if image.ndim == 2 else image
      else:
        image = paired_data._read(source, mode)  # pylint: disable=protected-access
    except (OSError, ValueError, SyntaxError) as e:
      bad.append((source, e))
      continue
    height, width = load_hw or paired_data.load_size_of(
        image.shape, data.preprocess, data.load_size)
    images.append(paired_data._resize(image, width, height))  # pylint: disable=protected-access
  paired_data.check_loaded(sources, bad, {i.shape for i in images})
  return np.stack(images)


def _tfds_examples(data, split: str) -> list:
  """(name, read) of every example of a tfds split (cycle_gan/*: trainA,
  trainB, testA, testB), prepared in data.data_dir (downloaded, or from
  the original zip in data.manual_dir)."""
  dataset = input_pipeline.tfds_dataset(data.name, split, data.data_dir,
                                        data.manual_dir)
  return [(f'{data.name}[{split}][{i}]',
           lambda i=i: np.asarray(dataset.fetch(np.array([i]))[0][0]))
          for i in range(dataset.num_examples)]


class UnpairedData:
  """Both domains' training and evaluation images; batches of (seed, step)."""

  def __init__(self, config):
    data = self.data = config.data
    self.config = config
    self.is_tfds = data.name != FOLDERS
    if not data.data_dir and not self.is_tfds:
      raise input_pipeline.DataError(
          'unpaired translation reads two folders: pass '
          '--config.data.data_dir=PATH (with trainA/ and trainB/ below it, '
          'or set config.data.train_dirs), or a tfds name '
          '(--config.data.name=cycle_gan/horse2zebra)')
    self.name = (f'tfds:{data.name}' if self.is_tfds
                 else f'unpaired:{data.data_dir}')
    self.train, self.eval, self._train_sources = {}, {}, {}
    for domain, folder in zip(DOMAINS, data.train_dirs):
      self._train_sources[domain] = self._sources(folder, 'train_dirs')
      self.train[domain] = _load(self._train_sources[domain], data)
    channels = {d: x.shape[-1] for d, x in self.train.items()}
    if len(set(channels.values())) > 1:
      raise input_pipeline.DataError(
          f'the domains have different channel counts ({channels}: grey '
          'and colour images): set --config.data.channels=3 (grey images '
          'become three equal channels) or =1 (colour images become grey)')
    crop = data.crop_size
    height, width = self.train['A'].shape[1:3]
    for domain, images in self.train.items():
      if images.shape[1:3] != (height, width):
        raise input_pipeline.DataError(
            f'domain {domain} loads at {images.shape[1]}x{images.shape[2]}, '
            f'A at {height}x{width}: use '
            '--config.data.preprocess=resize_and_crop')
    self.crop_hw = paired_data.crop_hw_of(data, height, width)
    # Evaluation images load at the crop size (resized whole, not cropped
    # from the load size).
    self._eval_hw = {'resize_and_crop': (crop, crop)}.get(data.preprocess)
    for domain, folder in zip(DOMAINS, data.eval_dirs or ()):
      if self.is_tfds or (pathlib.Path(data.data_dir) / folder).is_dir():
        self.eval[domain] = _load(self._sources(folder, 'eval_dirs'), data,
                                  self._eval_hw)
    self.sizes = {d: len(x) for d, x in self.train.items()}
    self.num_examples = max(self.sizes.values())

  def _sources(self, folder: str, field: str) -> list:
    """The image files of a domain's folder, or its tfds split's examples."""
    if self.is_tfds:
      return _tfds_examples(self.data, folder)
    folder = pathlib.Path(self.data.data_dir) / folder
    if not folder.is_dir():
      raise input_pipeline.DataError(
          f'{folder} does not exist: unpaired translation reads one folder '
          f'per domain, config.data.{field} under config.data.data_dir '
          '(trainA/ and trainB/ by default)')
    return paired_data.image_paths(folder)

  @property
  def spec(self) -> dict:
    h, w = self.crop_hw
    c = self.train['A'].shape[-1]
    return {'A': (h, w, c), 'B': (h, w, c), 'num_examples': self.num_examples}

  def describe(self) -> str:
    n_eval = {d: len(x) for d, x in self.eval.items()}
    return (f'{self.name}, training images A {self.sizes["A"]:,} and B '
            f'{self.sizes["B"]:,}, evaluation {n_eval or "none"}, '
            f'{self.spec["A"]}')

  def meta(self) -> dict:
    """What a checkpoint records (translating needs no dataset)."""
    return {'dataset': self.name, 'sample_shape': list(self.spec['A']),
            'source_shape': list(self.spec['A']), 'num_classes': 0,
            'num_examples': self.num_examples, 'domain_sizes': self.sizes}

  def _seed(self, domain: str) -> int:
    return self.config.seed + (B_SEED_OFFSET if domain == 'B' else 0)

  def batch(self, step: int, process_index: int = 0,
            process_count: int = 1) -> dict[str, np.ndarray]:
    """This process's rows of the global batch of `step`: {'A', 'B'}, each
    (b, H, W, C) uint8, each domain in its own order."""
    out = {}
    ch, cw = self.crop_hw
    for domain, images in self.train.items():
      seed = self._seed(domain)
      indices, epochs = input_pipeline.local_examples(
          seed, step, self.config.train.batch_size, len(images),
          process_index, process_count)
      top, left, flip = paired_data.random_crops(
          seed, epochs, indices, len(images), images.shape[1:3],
          self.crop_hw, self.data.flip)
      crops = np.stack([images[i, t:t + ch, l:l + cw]
                        for i, t, l in zip(indices, top, left)])
      crops[flip] = crops[flip, :, ::-1]
      out[domain] = crops
    return out

  def _centre_crops(self, images: dict, num: int | None) -> dict:
    ch, cw = self.crop_hw
    out = {}
    for domain, x in images.items():
      x = x[input_pipeline.spread_rows(len(x), num)]
      top, left = (x.shape[1] - ch) // 2, (x.shape[2] - cw) // 2
      out[domain] = x[:, top:top + ch, left:left + cw]
    return out

  def eval_images(self, num: int | None = None) -> dict[str, np.ndarray]:
    """Each domain's evaluation images (centre crops), `num` spread over
    the (sorted) files."""
    if not self.eval:
      raise input_pipeline.DataError(
          f'{self.name} has no evaluation images: add the '
          f'config.data.eval_dirs folders {tuple(self.data.eval_dirs)}')
    return self._centre_crops(self.eval, num)

  def train_images(self) -> dict[str, np.ndarray]:
    """Each domain's training images as the evaluation's are loaded and
    cropped (a domain classifier's training set)."""
    return self._centre_crops(
        {d: _load(sources, self.data, self._eval_hw)
         for d, sources in self._train_sources.items()}, None)
