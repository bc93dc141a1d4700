"""Training data: tfds datasets, image folders, 2D mixtures, embedded MNIST.

Every source is random access, and the examples of a batch are a function of
(seed, step) alone: a resumed run sees the same data as one never stopped,
whatever the number of processes. Each process fetches only its own slice of
every global batch. Images are delivered as uint8 (N, H, W, C) and scaled to
[-1, 1] on the device (`to_model_input`); 2D mixture points as float32 (N, 2).
"""

import dataclasses
import functools
import gzip
import math
import os
import pathlib
import queue
import shutil
import socket
import tempfile
import threading
import urllib.parse
from typing import Iterator

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from jaxgan import errors

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.pgm', '.ppm', '.bmp', '.gif',
                    '.tif', '.tiff', '.webp')
EMBEDDED_MNIST = pathlib.Path(__file__).parent / 'assets' / 'mnist'
MIXTURES = ('ring8', 'grid25')


class DataError(errors.UserError, RuntimeError):
  """A dataset that cannot be read, with what to do about it."""


@dataclasses.dataclass
class Dataset:
  """A random-access training set.

  `fetch(indices)` returns examples (uint8 images or float32 points) and int32
  labels (-1 where there are none).
  """
  name: str
  sample_shape: tuple[int, ...]
  num_examples: int
  num_classes: int
  fetch: callable

  @property
  def spec(self) -> tuple[int, ...]:
    """What the networks are built for: the shape of one example."""
    return self.sample_shape

  def describe(self) -> str:
    count = (f'{self.num_examples:,}' if self.num_examples < 2**40 else
             'unlimited')
    return f'{self.name}, {count} examples of shape {self.sample_shape}'

  def meta(self) -> dict:
    """What a checkpoint records of the data (sampling needs no dataset)."""
    return {'dataset': self.name, 'sample_shape': list(self.sample_shape),
            'num_classes': self.num_classes}


# --- Mixtures of Gaussians ----------------------------------------------------


def mixture_modes(name: str) -> tuple[np.ndarray, float]:
  """Mode centres (K, 2) and standard deviation of a named 2D mixture.

  ring8: 8 modes evenly spaced on the unit circle (distinct angles 2 pi k / 8),
  std 0.01 (Metz et al. 2017; Srivastava et al. 2017). grid25: the 25 points
  {-4, -2, 0, 2, 4}^2, std 0.05 (Srivastava et al. 2017; Lin et al. 2018).
  """
  if name == 'ring8':
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01
  if name == 'grid25':
    axis = np.arange(-4.0, 5.0, 2.0)
    return np.stack(np.meshgrid(axis, axis, indexing='ij'), -1).reshape(-1, 2), 0.05
  raise DataError(f'unknown mixture {name!r}: use one of {MIXTURES}')


def hash_uniform(seed: int, indices: np.ndarray, stream: int) -> np.ndarray:
  """Uniform [0, 1) numbers that are a pure function of (seed, index, stream).

  SplitMix64 (Steele et al. 2014) over the 64-bit counter, vectorised.
  """
  with np.errstate(over='ignore'):
    x = (indices.astype(np.uint64) * np.uint64(4) + np.uint64(stream) +
         np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
  return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


def _mixture_dataset(name: str, seed: int, num_points: int = 0) -> Dataset:
  """A named mixture's draws; `num_points` > 0: a fixed set of that many,
  visited in shuffled epochs as any finite dataset (PacGAN's 100,000 points),
  0: fresh draws that never repeat."""
  modes, std = mixture_modes(name)

  def fetch(indices):
    # An "index" names one draw: its mode and noise come from (seed, index).
    indices = np.asarray(indices, np.int64).ravel()
    labels = (hash_uniform(seed, indices, 0) * len(modes)).astype(np.int32)
    # Box-Muller: two independent standard normals per draw.
    radius = np.sqrt(-2.0 * np.log1p(-hash_uniform(seed, indices, 1)))
    angle = 2.0 * np.pi * hash_uniform(seed, indices, 2)
    noise = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return (modes[labels] + std * noise).astype(np.float32), labels

  # Draw i is a pure function of (seed, i): a fixed set is the first
  # num_points; otherwise draws never repeat, the "dataset" as long as any
  # run needs.
  return Dataset(name, (2,), num_points or 2**62, len(modes), fetch)


# --- Images -------------------------------------------------------------------


def resize_and_crop(image: np.ndarray, size) -> np.ndarray:
  """Resizes (bicubic, antialiased) to cover `size` = (H, W), centre-crops."""
  if size is None or tuple(image.shape[:2]) == tuple(size):
    return image
  height, width = size
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  scale = max(height / pil.height, width / pil.width)
  new_w = max(width, round(pil.width * scale))
  new_h = max(height, round(pil.height * scale))
  pil = pil.resize((new_w, new_h), Image.BICUBIC)
  left, top = (new_w - width) // 2, (new_h - height) // 2
  out = np.asarray(pil.crop((left, top, left + width, top + height)))
  return out[..., None] if squeeze else out


def _in_memory(name, images, labels, num_classes, image_size) -> Dataset:
  if image_size is not None:
    images = np.stack([resize_and_crop(im, image_size) for im in images])
  labels = np.asarray(labels, np.int32)

  def fetch(indices):
    indices = np.asarray(indices)
    return images[indices], labels[indices]

  return Dataset(name, tuple(images.shape[1:]), len(images), num_classes, fetch)


def read_idx(path) -> np.ndarray:
  """Reads an MNIST-format idx file (gzipped or not) into a uint8 array."""
  opener = gzip.open if str(path).endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def embedded_mnist(image_size=None) -> Dataset:
  """The official MNIST test split shipped with jaxgan (LeCun & Cortes)."""
  images = read_idx(EMBEDDED_MNIST / 't10k-images-idx3-ubyte.gz')[..., None]
  labels = read_idx(EMBEDDED_MNIST / 't10k-labels-idx1-ubyte.gz')
  return _in_memory('mnist[embedded test split]', images, labels, 10,
                    image_size)


def folder_dataset(root, image_size=None, channels=None,
                   labels_from_subfolders=False) -> Dataset:
  """All images below `root` (recursive), decoded once into memory.

  The class of an image is its first sub-folder under `root` when
  `labels_from_subfolders`. Unreadable files are skipped and counted.
  """
  root = pathlib.Path(root) if root else None
  if root is None or not root.is_dir():
    raise DataError(
        f'image folder {root} does not exist: pass an existing directory with '
        '--config.data.data_dir=PATH (with --config.data.name=folder)')
  paths = sorted(p for p in root.rglob('*')
                 if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
  if not paths:
    raise DataError(
        f'image folder {root} holds no images ({", ".join(IMAGE_EXTENSIONS)}); '
        'point --config.data.data_dir at a folder of image files')
  classes = sorted({p.relative_to(root).parts[0] for p in paths
                    if len(p.relative_to(root).parts) > 1})
  if labels_from_subfolders and not classes:
    raise DataError(f'image folder {root} has no class sub-folders; set '
                    '--config.data.labels_from_subfolders=False')
  class_index = {c: i for i, c in enumerate(classes)}
  mode = {None: None, 1: 'L', 3: 'RGB'}[channels]
  images, labels, bad = [], [], []
  for path in paths:
    try:
      with Image.open(path) as im:
        im.load()
        mode = mode or ('L' if im.mode in ('L', 'I', 'I;16', '1') else 'RGB')
        array = np.asarray(im.convert(mode))
    except (OSError, ValueError, SyntaxError) as e:
      bad.append((path, e))
      continue
    array = array[..., None] if array.ndim == 2 else array
    if image_size is None:
      image_size = array.shape[:2]
    images.append(resize_and_crop(array, image_size))
    parts = path.relative_to(root).parts
    labels.append(class_index[parts[0]] if labels_from_subfolders else -1)
  if bad:
    logging.warning('Skipped %d unreadable image(s) in %s, e.g. %s (%s)',
                    len(bad), root, bad[0][0], bad[0][1])
  if not images:
    raise DataError(f'none of the {len(paths)} image files in {root} could be '
                    f'read (e.g. {bad[0][0]}: {bad[0][1]})')
  num_classes = len(classes) if labels_from_subfolders else 0
  return _in_memory(f'folder:{root}', np.stack(images), labels, num_classes,
                    None)


# --- tensorflow-datasets ------------------------------------------------------


def _network_reachable(url: str, timeout: float = 3.0) -> bool:
  parsed = urllib.parse.urlparse(url)
  port = parsed.port or (443 if parsed.scheme == 'https' else 80)
  try:
    socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    return True
  except OSError:
    return False


def _prepare_tfds(builder, manual_dir):
  """Downloads (or reads from `manual_dir`) and prepares a tfds dataset."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  name = builder.name
  files = sorted({url.rsplit('/', 1)[-1] for url in builder.url_infos or {}})
  listed = ', '.join(files) or f'see the tfds catalogue page of {name}'
  hint = (f'Offline, put the original files ({listed}) in a folder and pass '
          '--config.data.manual_dir=FOLDER; or point --config.data.data_dir at '
          'a tfds data_dir where it is already prepared.')
  if manual_dir:
    if not os.path.isdir(manual_dir):
      raise DataError(f'manual_dir {manual_dir} does not exist. {hint}')
    # A private extract_dir: tfds names extracted files by their archive name
    # alone, so MNIST and Fashion-MNIST (same file names) would otherwise share
    # one extraction and the second dataset would silently get the first's.
    download_config = tfds.download.DownloadConfig(
        manual_dir=manual_dir,
        extract_dir=tempfile.mkdtemp(prefix=f'jaxgan-extract-{name}-'))
  else:
    urls = list(builder.url_infos or {})
    if urls and not _network_reachable(urls[0]):
      raise DataError(f'tfds dataset {name!r} is not prepared in '
                      f'{builder.data_dir} and needs a download, but '
                      f'{urllib.parse.urlparse(urls[0]).hostname} cannot be '
                      f'reached. {hint}')
    download_config = tfds.download.DownloadConfig()
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise DataError(
        f'preparing tfds dataset {name!r} needs TensorFlow (tfds extracts with '
        "tf.io.gfile): pip install 'jaxgan[tfds]'") from e
  logging.info('Preparing tfds %s in %s (manual_dir=%s)', name,
               builder.data_dir, manual_dir)
  try:
    builder.download_and_prepare(download_config=download_config)
  finally:
    if manual_dir:
      shutil.rmtree(download_config.extract_dir, ignore_errors=True)


def tfds_dataset(name, split='train', data_dir=None, manual_dir=None,
                 image_size=None, max_in_memory_mb=4096) -> Dataset:
  """A tfds image dataset, prepared as ArrayRecord for random access.

  Datasets under `max_in_memory_mb` are decoded once into memory (and cached
  beside the prepared files as .npz); larger ones are decoded per batch.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f'unknown dataset {name!r}: use a tensorflow-datasets name, '
                    f"'folder', or one of {MIXTURES}") from e
  if not builder.is_prepared():
    _prepare_tfds(builder, manual_dir)
  features = builder.info.features
  image_key = 'image' if 'image' in features else next(
      k for k, f in features.items() if isinstance(f, tfds.features.Image))
  label_feature = features['label'] if 'label' in features else None
  num_classes = getattr(label_feature, 'num_classes', 0) or 0
  source = builder.as_data_source(split=split)
  shape = tuple(features[image_key].shape)

  def decode(records):
    images = np.stack([resize_and_crop(r[image_key], image_size)
                       for r in records])
    labels = np.array([r.get('label', -1) if num_classes else -1
                       for r in records], np.int32)
    return images, labels

  # Images of varying size (cycle_gan's, shape (None, None, 3)) are decoded
  # per batch.
  size_mb = (len(source) * math.prod(shape) / 2**20 if None not in shape
             else math.inf)
  if size_mb <= max_in_memory_mb:
    cache = pathlib.Path(builder.data_dir) / f'jaxgan-{split}.npz'.replace(
        '/', '_')
    if cache.exists():
      with np.load(cache) as f:
        images, labels = f['images'], f['labels']
    else:
      images, labels = decode(source.__getitems__(list(range(len(source)))))
      tmp = cache.with_suffix('.tmp.npz')
      np.savez(tmp, images=images, labels=labels)
      os.replace(tmp, cache)
    return _in_memory(name, images, labels, num_classes, image_size)

  def fetch(indices):
    return decode(source.__getitems__([int(i) for i in np.ravel(indices)]))

  sample_shape = tuple(image_size) + shape[-1:] if image_size else shape
  return Dataset(name, sample_shape, len(source), num_classes, fetch)


def create_dataset(config: ml_collections.ConfigDict) -> Dataset:
  """The training set that `config.data` names."""
  data = config.data
  image_size = tuple(data.image_size) if data.image_size else None
  if data.name in MIXTURES:
    return _mixture_dataset(data.name, config.seed,
                            data.get('num_points') or 0)
  if data.name == 'folder':
    return folder_dataset(data.data_dir, image_size, data.channels,
                          data.labels_from_subfolders)
  if data.manual_dir and not os.path.isdir(data.manual_dir):
    raise DataError(
        f'config.data.manual_dir={data.manual_dir} does not exist: give the '
        f'folder that holds the original files of {data.name}.')
  try:
    return tfds_dataset(data.name, data.split, data.data_dir, data.manual_dir,
                        image_size, data.max_in_memory_mb)
  except (DataError, ImportError) as e:
    # Not when the user gave the original files: a manual_dir is used or is
    # an error, never replaced by other data.
    if data.name != 'mnist' or data.split != 'train' or data.manual_dir:
      raise
    logging.warning('MNIST unavailable from tfds (%s); training on the 10,000 '
                    'digits of the embedded MNIST test split instead.', e)
    return embedded_mnist(image_size)


# --- Batches as a function of the step ----------------------------------------


@functools.lru_cache(maxsize=2)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order of the examples in `epoch` of a run seeded `seed`."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def example_indices(seed: int, step: int, shape: tuple[int, ...],
                    num_examples: int) -> np.ndarray:
  """Dataset indices of the global batch of `step`, of the given shape.

  Position p of the stream (p = step * prod(shape) + offset) is example
  perm_e[p mod N] of epoch e = p // N: every epoch visits every example once.
  """
  size = math.prod(shape)
  positions = step * size + np.arange(size, dtype=np.int64)
  return stream_indices(seed, positions, num_examples).reshape(shape)


def stream_indices(seed: int, positions: np.ndarray,
                   num_examples: int) -> np.ndarray:
  """Dataset indices at positions of the run's example stream (see
  `example_indices`; batches of varying size index it directly)."""
  positions = np.asarray(positions, np.int64)
  if num_examples >= 2**62:  # Infinite streams index by position directly.
    return positions
  epochs, offsets = np.divmod(positions, num_examples)
  out = np.empty(positions.shape, np.int64)
  for epoch in np.unique(epochs):
    mask = epochs == epoch
    out[mask] = epoch_permutation(seed, int(epoch), num_examples)[offsets[mask]]
  return out


def local_examples(seed: int, step: int, batch_size: int, num_examples: int,
                   process_index: int = 0, process_count: int = 1):
  """(example indices, epochs) of this process's rows of the global batch of
  `step`, for the datasets that crop and augment per (seed, epoch, index)."""
  positions = step * batch_size + np.arange(batch_size, dtype=np.int64)
  indices = example_indices(seed, step, (batch_size,), num_examples)
  epochs = positions // num_examples
  local = batch_size // process_count
  rows = slice(process_index * local, (process_index + 1) * local)
  return indices[rows], epochs[rows]


def spread_rows(n: int, num: int | None) -> np.ndarray:
  """`num` of n rows, evenly spaced (all of them for None or num >= n)."""
  return (np.arange(n) if num is None or num >= n else
          (np.arange(num) * n) // num)


def process_batch(dataset: Dataset, seed: int, step: int, n_critic: int,
                  batch_size: int, process_index: int = 0,
                  process_count: int = 1) -> dict[str, np.ndarray]:
  """This process's slice of the global batch of `step`.

  Returns {'image': (n_critic, batch_size // process_count, ...),
  'label': ...} (for the 2D mixtures, 'image' holds the points):
  one real batch per critic update, rows [i * b, (i + 1) * b) for process i.
  """
  indices = example_indices(seed, step, (n_critic, batch_size),
                            dataset.num_examples)
  local = batch_size // process_count
  indices = indices[:, process_index * local:(process_index + 1) * local]
  x, labels = dataset.fetch(indices.ravel())
  return {'image': x.reshape(indices.shape + x.shape[1:]),
          'label': labels.reshape(indices.shape)}


def batch_iterator(dataset: Dataset, config: ml_collections.ConfigDict,
                   start_step: int = 0, prefetch: int = 2
                   ) -> Iterator[dict[str, np.ndarray]]:
  """This process's noise-GAN batches from `start_step` on (`process_batch`),
  prepared in a thread."""
  args = (config.seed, config.train.n_critic, config.train.batch_size,
          jax.process_index(), jax.process_count())
  return prefetched(lambda step: process_batch(dataset, args[0], step,
                                               *args[1:]), start_step,
                    prefetch)


def prefetched(make_batch, start_step: int = 0, prefetch: int = 2
               ) -> Iterator[dict[str, np.ndarray]]:
  """make_batch(step) for step = start_step, start_step + 1, ..., made
  `prefetch` steps ahead in a thread (errors re-raised in the caller)."""
  out = queue.Queue(maxsize=prefetch)
  stop = threading.Event()

  def produce():
    step = start_step
    try:
      while not stop.is_set():
        batch = make_batch(step)
        while not stop.is_set():
          try:
            out.put(batch, timeout=0.1)
            break
          except queue.Full:
            pass
        step += 1
    except Exception as e:  # pylint: disable=broad-except
      out.put(e)

  thread = threading.Thread(target=produce, daemon=True,
                            name='jaxgan-prefetch')
  thread.start()
  try:
    while True:
      item = out.get()
      if isinstance(item, Exception):
        raise item
      yield item
  finally:  # Closed or collected: no producer outlives its consumer.
    stop.set()
    thread.join(timeout=30)


def to_model_input(x: jax.Array) -> jax.Array:
  """uint8 images -> float32 in [-1, 1]; float points pass through."""
  if x.dtype == jnp.uint8:
    return x.astype(jnp.float32) / 127.5 - 1.0
  return x.astype(jnp.float32)
