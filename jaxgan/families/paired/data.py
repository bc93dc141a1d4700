"""Paired data: (source, target) images for image-to-image translation.

Three ways to get pairs (`config.data.name`):

  aligned   the format pix2pix datasets ship in (facades, maps, edges2shoes,
            cityscapes): every image is A | B side by side; `direction`
            AtoB takes A as the source, BtoA takes B.
  colorize  any image folder: the source is the image in grey (ITU-R 601
            luma, as PIL's 'L'), the target the image in colour.
  edges     any image folder: the source is the image's Canny edges (black
            lines on white, as edges2shoes draws them), the target the image.
            pix2pix's edges2* sets used HED edges, whose network weights
            cannot be had offline; Canny (scikit-image, sigma
            `data.edge_sigma`) is the classical detector closest to them:
            thin, connected contours with hysteresis, deterministic, no
            weights.

Splits are sub-folders of `data.data_dir` (`data.split`, default 'train';
`data.eval_split`, default 'test'), or, with `data.holdout` (a list of
sub-folder names), the held-out sub-folders are the evaluation set and the
rest the training set (ORL faces: 36 people to train, 4 to test).

Preprocessing follows the authors' `--preprocess` (data/base_dataset.py):
'resize_and_crop' resizes to load_size x load_size and takes a random
crop_size crop (286 -> 256 by default); 'scale_width_and_crop' scales the
width to load_size keeping the aspect (non-square images) and crops
crop_size x crop_size; 'crop' crops the native image; 'none' keeps it (its
sides must already suit the U-Net). Flips are horizontal with probability
1/2. Source and target get the same crop and flip, drawn from (seed, epoch,
example index): fresh each epoch, the same after a resume. Evaluation (and
the sample grids) resize to crop_size (the authors' test setting, load_size
= crop_size) and take the centre, without flips.
"""

import dataclasses
import math
import pathlib

from absl import logging
import jax
import numpy as np
from PIL import Image

from jaxgan import errors
from jaxgan import input_pipeline

PAIRS = ('aligned', 'colorize', 'edges')
PREPROCESS = ('resize_and_crop', 'scale_width_and_crop', 'crop', 'none')


def _read(path, mode=None) -> np.ndarray:
  with Image.open(path) as im:
    im.load()
    if mode is None:
      mode = 'L' if im.mode in ('L', 'I', 'I;16', '1') else 'RGB'
    array = np.asarray(im.convert(mode))
  return array[..., None] if array.ndim == 2 else array


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
  """Bicubic resize of a uint8 (H, W, C) image to (height, width)."""
  if image.shape[:2] == (height, width):
    return image
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize((width, height), Image.BICUBIC))
  return out[..., None] if squeeze else out


def load_size_of(shape, preprocess: str, load_size: int) -> tuple[int, int]:
  """(height, width) an image of `shape` is resized to before cropping."""
  height, width = shape[:2]
  if preprocess == 'resize_and_crop':
    return load_size, load_size
  if preprocess == 'scale_width_and_crop':
    return max(1, round(height * load_size / width)), load_size
  return height, width


def split_aligned(image: np.ndarray, path) -> tuple[np.ndarray, np.ndarray]:
  """An A | B image -> (A, B)."""
  height, width = image.shape[:2]
  if width % 2:
    raise input_pipeline.DataError(
        f'{path} is {width} pixels wide: an aligned pair is A | B side by side '
        '(an even width). Use --config.data.name=colorize or edges for a '
        'folder of single images.')
  a, b = image[:, :width // 2], image[:, width // 2:]
  if not 0.25 <= a.shape[1] / height <= 4:
    raise input_pipeline.DataError(
        f'{path} is {width}x{height}: as A | B halves that is '
        f'{a.shape[1]}x{height} each, not an aligned pair. Check the '
        'folder, or use --config.data.name=colorize or edges.')
  return a, b


def edges(image: np.ndarray, sigma: float) -> np.ndarray:
  """Canny edges of an image as black lines on white, uint8 (H, W, 1)."""
  from skimage import feature  # pylint: disable=g-import-not-at-top
  grey = image[..., 0] if image.shape[-1] == 1 else np.asarray(
      Image.fromarray(image).convert('L'))
  lines = feature.canny(grey.astype(np.float64) / 255.0, sigma=sigma)
  return np.where(lines, 0, 255).astype(np.uint8)[..., None]


def make_pair(image: np.ndarray, kind: str, path, direction='AtoB',
              edge_sigma: float = 2.0):
  """One file's (source, target), uint8 (H, W, C) each."""
  if kind == 'aligned':
    a, b = split_aligned(image, path)
    return (a, b) if direction == 'AtoB' else (b, a)
  if kind == 'inpainting':  # The source is made on the device (a hole).
    return image, image
  if kind == 'colorize':
    if image.shape[-1] != 3:
      raise input_pipeline.DataError(
          f'{path} is greyscale: colorization needs colour targets.')
    return np.asarray(Image.fromarray(image).convert('L'))[..., None], image
  return edges(image, edge_sigma), image


def image_paths(root: pathlib.Path, exclude=(), only=None) -> list:
  """Images below `root`; `only`/`exclude`: first-level sub-folder names."""
  if not root.is_dir():
    raise input_pipeline.DataError(
        f'{root} does not exist: point --config.data.data_dir at the folder '
        'of images (with train/ and test/ sub-folders, or set '
        'config.data.holdout).')
  paths = []
  for p in sorted(root.rglob('*')):
    if not (p.is_file() and
            p.suffix.lower() in input_pipeline.IMAGE_EXTENSIONS):
      continue
    top = p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 \
        else None
    if top in exclude or (only is not None and top not in only):
      continue
    paths.append(p)
  if not paths:
    raise input_pipeline.DataError(f'{root} holds no images '
                                   f'({", ".join(input_pipeline.IMAGE_EXTENSIONS)})')
  return paths


@dataclasses.dataclass
class Split:
  """Loaded pairs of one split, resized to the load size (uint8)."""
  source: np.ndarray  # (N, H, W, Cs)
  target: np.ndarray  # (N, H, W, Ct)
  paths: list


def check_loaded(paths, bad: list, shapes: set):
  """After reading `paths`: logs the unreadable files (`bad`: (path,
  error)); refuses none read, or images loaded at different `shapes`."""
  if bad:
    logging.warning('Skipped %d unreadable image(s), e.g. %s (%s)', len(bad),
                    bad[0][0], bad[0][1])
  if not shapes:
    raise input_pipeline.DataError(
        f'none of the {len(paths)} image files could be read (e.g. '
        f'{bad[0][0]}: {bad[0][1]})')
  if len(shapes) > 1:
    raise input_pipeline.DataError(
        f'the images load at different sizes {sorted(shapes)[:3]}: use '
        "--config.data.preprocess=resize_and_crop (or scale_width_and_crop "
        'for images of one aspect)')


def load_split(paths, data, load_hw=None) -> Split:
  """Reads, pairs and resizes every file; skips unreadable files (counted)."""
  sources, targets, kept, bad = [], [], [], []
  for path in paths:
    try:
      image = _read(path, {1: 'L', 3: 'RGB'}.get(data.channels))
    except (OSError, ValueError, SyntaxError) as e:
      bad.append((path, e))
      continue
    source, target = make_pair(image, data.name, path, data.direction,
                               data.edge_sigma)
    height, width = load_hw or load_size_of(source.shape, data.preprocess,
                                            data.load_size)
    sources.append(_resize(source, width, height))
    # Inpainting's pair is the image twice: resized and held once.
    targets.append(None if target is source else _resize(target, width,
                                                          height))
    kept.append(path)
  check_loaded(paths, bad, {s.shape for s in sources})
  sources = np.stack(sources)
  return Split(sources, sources if targets[0] is None else np.stack(targets),
               kept)


def crop_hw_of(data, height: int, width: int) -> tuple[int, int]:
  """The training crop of images loaded at height x width: the whole image
  for preprocess 'none', else crop_size square (refused if larger)."""
  if data.preprocess == 'none':
    return height, width
  crop = data.crop_size
  if min(height, width) < crop:
    raise errors.ConfigError(
        f'config.data.crop_size={crop} is larger than the loaded images '
        f'({height}x{width}): lower crop_size or raise load_size.')
  return crop, crop


def random_crops(seed: int, epochs: np.ndarray, indices: np.ndarray,
                 num_examples: int, image_hw, crop_hw, flip: bool):
  """(top, left, flip) of each example's random crop, a pure function of
  (seed, epoch, example index)."""
  key = epochs.astype(np.int64) * num_examples + indices
  (height, width), (ch, cw) = image_hw, crop_hw
  top = np.floor(input_pipeline.hash_uniform(seed, key, 1)
                 * (height - ch + 1)).astype(np.int64)
  left = np.floor(input_pipeline.hash_uniform(seed, key, 2)
                  * (width - cw + 1)).astype(np.int64)
  flips = (input_pipeline.hash_uniform(seed, key, 3) < 0.5 if flip
           else np.zeros(len(key), bool))
  return top, left, flips


class PairedData:
  """Training and evaluation pairs, batches a function of (seed, step)."""

  def __init__(self, config):
    data = config.data
    self.config = config
    self.name = f'{data.name}:{data.data_dir}'
    root = pathlib.Path(data.data_dir or '')
    if not data.data_dir:
      raise input_pipeline.DataError(
          'the paired family reads a folder: pass --config.data.data_dir=PATH')
    if data.holdout:
      base = root / data.split if data.split else root
      train_paths = image_paths(base, exclude=tuple(data.holdout))
      eval_paths = image_paths(base, only=tuple(data.holdout))
    else:
      train_paths = image_paths(root / data.split)
      eval_dir = root / data.eval_split
      eval_paths = image_paths(eval_dir) if eval_dir.is_dir() else []
    self.train = load_split(train_paths, data)
    crop = data.crop_size
    self.crop_hw = crop_hw_of(data, *self.train.source.shape[1:3])
    self.eval = None
    if eval_paths:
      # The authors' test setting (load_size = crop_size): resize to the
      # crop's scale, then the centre crop; 'crop' and 'none' keep the size.
      eval_hw = {'resize_and_crop': (crop, crop),
                 'scale_width_and_crop': load_size_of(
                     self.train.source.shape[1:], data.preprocess, crop)
                 }.get(data.preprocess)
      self.eval = load_split(eval_paths, data, eval_hw)
    self.num_examples = len(self.train.paths)

  @property
  def spec(self) -> dict:
    """What the family builds for: the pairs' shapes, and the number of
    training pairs (the learning-rate schedule counts epochs)."""
    h, w = self.crop_hw
    return {'source': (h, w, self.train.source.shape[-1]),
            'target': (h, w, self.train.target.shape[-1]),
            'num_examples': self.num_examples}

  def describe(self) -> str:
    n_eval = 0 if self.eval is None else len(self.eval.paths)
    return (f'{self.name}, {self.num_examples:,} training pairs and {n_eval:,} '
            f'for evaluation, {self.spec["source"]} -> {self.spec["target"]}')

  def meta(self) -> dict:
    """What a checkpoint records (translating needs no dataset)."""
    return {'dataset': self.name,
            'sample_shape': list(self.spec['target']),
            'source_shape': list(self.spec['source']), 'num_classes': 0,
            'num_examples': self.num_examples}

  def crops(self, seed: int, epochs: np.ndarray, indices: np.ndarray):
    """(top, left, flip) of each example's crop: a pure function of (seed,
    epoch, example index), shared by source and target."""
    return random_crops(seed, epochs, indices, self.num_examples,
                        self.train.source.shape[1:3], self.crop_hw,
                        self.config.data.flip)

  def batch(self, step: int, process_index: int = 0,
            process_count: int = 1) -> dict[str, np.ndarray]:
    """This process's rows of the global batch of `step`:
    {'source': (b, H, W, Cs), 'target': (b, H, W, Ct)} uint8."""
    seed = self.config.seed
    indices, epochs = input_pipeline.local_examples(
        seed, step, self.config.train.batch_size, self.num_examples,
        process_index, process_count)
    top, left, flip = self.crops(seed, epochs, indices)
    ch, cw = self.crop_hw
    out = {}
    for key, images in (('source', self.train.source),
                        ('target', self.train.target)):
      crops = np.stack([images[i, t:t + ch, l:l + cw]
                        for i, t, l in zip(indices, top, left)])
      crops[flip] = crops[flip, :, ::-1]
      out[key] = crops
    return out

  def batches(self, start_step: int):
    return input_pipeline.prefetched(
        lambda step: self.batch(step, jax.process_index(),
                                jax.process_count()), start_step)

  def eval_pairs(self, num: int | None = None,
                 split: Split | None = None) -> dict[str, np.ndarray]:
    """The evaluation pairs (centre crops, no flip), the first `num`."""
    split = split or self.eval
    if split is None:
      raise input_pipeline.DataError(
          f'{self.name} has no evaluation images: add a '
          f'{self.config.data.eval_split}/ folder or set config.data.holdout')
    ch, cw = self.crop_hw
    # Evenly spaced over the (sorted) files, so that a subset spans every
    # sub-folder (class) rather than the first ones.
    n = len(split.paths)
    rows = input_pipeline.spread_rows(n, num)
    out = {}
    for key, images in (('source', split.source),
                        ('target', split.target)):
      images = images[rows]
      top = (images.shape[1] - ch) // 2
      left = (images.shape[2] - cw) // 2
      out[key] = images[:, top:top + ch, left:left + cw]
    return out


def steps_per_epoch(batch_size: int, num_examples: int) -> int:
  return math.ceil(num_examples / batch_size)


class InpaintData(PairedData):
  """Images for inpainting: training batches hold the targets alone (the
  masked source is made on the device, `inpainting.py` here); evaluation
  pairs add each image's fixed mask and the masked source."""

  def __init__(self, config):
    from jaxgan.families.paired import inpainting  # pylint: disable=g-import-not-at-top
    super().__init__(config)
    height, width = self.crop_hw
    if height != width:
      raise errors.ConfigError(
          f'inpainting trains on square images, and these load at {height}x'
          f'{width}: use --config.data.preprocess=resize_and_crop')
    inpainting.validate(config.data, height)
    self.name = f'inpainting:{config.data.data_dir}'

  def batch(self, step: int, process_index: int = 0,
            process_count: int = 1) -> dict[str, np.ndarray]:
    return {'target': super().batch(step, process_index,
                                    process_count)['target']}

  def eval_pairs(self, num: int | None = None,
                 split: Split | None = None) -> dict[str, np.ndarray]:
    """{'source': masked, 'target', 'holes': (N, S, S, 1) uint8}: image i of
    the split always gets the mask of (seed, i)."""
    from jaxgan.families.paired import inpainting  # pylint: disable=g-import-not-at-top
    split = split or self.eval
    pairs = super().eval_pairs(num, split)
    rows = input_pipeline.spread_rows(len(split.paths), num)
    size = pairs['target'].shape[1]
    holes = inpainting.eval_holes(self.config.data, self.config.seed,
                                  len(split.paths), size)[rows]
    return {'target': pairs['target'], 'holes': holes,
            'source': inpainting.masked_uint8(self.config.data,
                                              pairs['target'], holes)}
