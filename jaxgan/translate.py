r"""Applies a trained translator (paired or unpaired) to your own images.

  python -m jaxgan.translate --workdir=runs/pix2pix_orl --input=faces/ \
      --out=runs/pix2pix_orl/translated [--step=N] [--pairs]

Reads the config and shapes saved in the checkpoint (no dataset, no config
file). Every image (a file, or every image below a folder) is turned into the
source the run was trained on: its grey for colorization, its Canny edges for
edges -> image (`--pairs`; without it an input is taken as a source as it is,
e.g. an edge drawing), its A or B half for aligned A|B files (`--pairs`,
which also gives the target). Any size works: the image is padded
(reflecting its border) to the next multiple of 2^levels of the U-Net on each
side, translated, and cropped back, so the output has the input's size; the
U-Net is fully convolutional, and a larger input only widens its bottleneck.
Writes OUT/NAME.png (the output) and OUT/grid_NAME.png (input | output
[| target]); prints one line per image.

An unpaired run (CycleGAN) has two generators: `--direction=AtoB` (G_A,
the default) or `BtoA` (G_B) picks one; inputs are images of its source
domain (no --pairs). A paired run translates the one way it was trained
(config.data.direction) and refuses the other.

An inpainting run (the context encoder) fills holes instead:

  python -m jaxgan.translate --workdir=runs/ce_orl --input=photo.png \
      --mask=hole.png --out=filled

`--mask` is an image of the input's size whose white (> 127) pixels are the
hole (or `--mask=run`: the run's own mask, e.g. its centre square). The
network works at its training size: image and mask are resized to it, the
hole is filled there, and the fill is resized back into the hole of the
original, whose known pixels are kept as they are.
"""

import dataclasses
import os
import pathlib

from absl import flags
from absl import logging
import jax
import numpy as np
from PIL import Image

from jaxgan import checkpoints
from jaxgan import cli
from jaxgan import errors
from jaxgan import families
from jaxgan.families import paired
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import inpainting
from jaxgan.families import unpaired
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import writers

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('workdir', None, 'The run whose generator translates.')
  flags.DEFINE_string('input', None, 'An image file, or a folder of them.')
  flags.DEFINE_string('out', None, 'Output folder.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('best', False, 'From WORKDIR/checkpoints_best.')
  flags.DEFINE_bool('pairs', False, 'Make (source, target) from each input '
                    'as training did (grey, edges, or the A|B halves).')
  flags.DEFINE_string('direction', None, 'Unpaired (CycleGAN) runs: AtoB '
                      '(G_A, the default) or BtoA (G_B).')
  flags.DEFINE_string('mask', None, 'Inpainting runs: a mask image of the '
                      "input's size (white = hole), or 'run' for the run's "
                      'own mask.')


@dataclasses.dataclass
class Translator:
  """A trained paired-family generator restored from a checkpoint."""
  config: object
  meta: dict
  step: int
  family: object  # paired.Paired or unpaired.Unpaired
  state: object
  # An unpaired run's: AtoB (G_A) or BtoA (G_B). None: a paired run.
  direction: str | None = None

  @property
  def multiple(self) -> int:
    """Input sides must be multiples of this (a U-Net's 2^levels; 1 for
    fully convolutional generators without levels, SRResNet)."""
    return 2 ** getattr(self.family.generator, 'num_downs', 0)

  def __call__(self, sources: np.ndarray) -> np.ndarray:
    """uint8 or [-1, 1] sources (B, H, W, C), H and W multiples of
    `multiple` -> outputs in [-1, 1]."""
    if self.direction is None:
      return np.asarray(self._predict(self.state, {'source': sources}))
    src, dst = self.direction[0], self.direction[-1]
    return np.asarray(self._predict(self.state, {src: sources})[f'fake_{dst}'])

  def __post_init__(self):
    self._predict = jax.jit(self.family.predict)

  def predict(self, inputs: dict) -> dict:
    """The family's predict on `inputs` (an unpaired run's {'A'} and/or
    {'B'}: fake_B, rec_A, fake_A, rec_B), jitted."""
    return self._predict(self.state, inputs)

  def complete(self, sources: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Inpainting: uint8 images (B, S, S, C) at the training size with
    their holes (B, S, S, 1) -> the completed images in [-1, 1]."""
    masked = inpainting.masked_uint8(self.config.data, sources, holes)
    return np.asarray(self._predict(self.state, {'source': masked,
                                                 'holes': holes}))

  def inpaint(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One uint8 image (H, W, C) of any size and its bool hole (H, W) ->
    the uint8 image with the hole filled."""
    size = self.meta['sample_shape'][0]
    small = paired_data._resize(image, size, size)  # pylint: disable=protected-access
    small_hole = np.asarray(Image.fromarray(
        hole.astype(np.uint8) * 255).resize((size, size),
                                            Image.NEAREST)) > 127
    filled = inception.to_uint8(self.complete(
        small[None], small_hole[None, ..., None].astype(np.uint8))[0])
    back = paired_data._resize(filled, image.shape[1], image.shape[0])  # pylint: disable=protected-access
    return np.where(hole[..., None], back, image).astype(np.uint8)

  def translate(self, image: np.ndarray) -> np.ndarray:
    """One uint8 source (H, W, C) of any size -> output (H, W, C') in
    [-1, 1]: reflect-padded to multiples of 2^levels, cropped back."""
    height, width = image.shape[:2]
    m = self.multiple
    pad_h, pad_w = -height % m, -width % m
    mode = 'reflect' if pad_h < height and pad_w < width else 'edge'
    padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    return self(padded[None])[0, :height, :width]


def load(workdir, step=None, best=False, direction=None) -> Translator:
  """The generator of a paired run, or (`direction` AtoB, the default, or
  BtoA) one of an unpaired run's two."""
  run = checkpoints.read_run(
      workdir, step, best, ('paired', 'unpaired'),
      'python -m jaxgan.translate applies paired (pix2pix) and unpaired '
      '(CycleGAN) generators; sample noise GANs with python -m '
      'jaxgan.sample.')
  config, meta, raw = run.config, run.meta, run.raw
  if config.family == 'unpaired':
    direction = direction or 'AtoB'
    if direction not in unpaired.DIRECTIONS:
      raise errors.ConfigError(f'--direction={direction}: an unpaired run '
                               f'translates {" or ".join(unpaired.DIRECTIONS)}')
    shape = tuple(meta['sample_shape'])
    family = families.get('unpaired')(
        config, {'A': shape, 'B': shape, 'num_examples': meta['num_examples']})
    state = unpaired.UnpairedState(
        step=raw['step'], g_params=raw['g_params'],
        # Instance norm keeps no statistics: a checkpoint may hold no
        # entry for a network's empty state.
        g_state={n: dict(raw.get('g_state', {}).get(n, {}))
                 for n in unpaired.G_DOMAINS},
        g_opt_state=None, d_params=None, d_state=None, d_opt_state=None,
        pools=None)
    return Translator(config, meta, run.step, family, state, direction)
  trained = config.data.get('direction', 'AtoB')
  if direction not in (None, trained):
    raise errors.ConfigError(
        f'--direction={direction}: {workdir} is a paired run, which '
        f'translates one way, {trained} (config.data.direction); train a '
        f'run with --config.data.direction={direction}, or an unpaired '
        '(CycleGAN) run, which translates both')
  spec = {'source': tuple(meta['source_shape']),
          'target': tuple(meta['sample_shape']),
          'num_examples': meta['num_examples']}
  family = families.get('paired')(config, spec)
  state = paired.PairedState(
      step=raw['step'], g_params=raw['g_params'],
      g_state=dict(raw.get('g_state', {})), g_opt_state=None,
      d_params=None, d_state={}, d_opt_state=None)
  return Translator(config, meta, run.step, family, state)


def interpolate(a: Translator, b: Translator, alpha: float) -> Translator:
  """ESRGAN's network interpolation (Wang et al. 2018, sec. 3.4): every
  parameter (and BatchNorm statistic) (1 - alpha) a + alpha b, for two runs
  of the same network (a PSNR-oriented one and its GAN fine-tuning)."""
  shapes = lambda t: jax.tree.map(np.shape, (t.state.g_params,  # pylint: disable=g-long-lambda
                                             t.state.g_state))
  if (a.config.model.generator != b.config.model.generator or
      shapes(a) != shapes(b)):
    raise errors.ConfigError(
        'network interpolation needs two runs of the same generator; these '
        f'are {a.config.model.generator!r} and {b.config.model.generator!r} '
        'of other shapes: fine-tune the GAN from the PSNR run '
        '(--config.init_from)')
  mix = lambda x, y: (1 - alpha) * x + alpha * y  # pylint: disable=unnecessary-lambda-assignment
  state = b.state.replace(
      g_params=jax.tree.map(mix, a.state.g_params, b.state.g_params),
      g_state=jax.tree.map(mix, a.state.g_state, b.state.g_state))
  return Translator(b.config, b.meta, b.step, b.family, state)


def source_of(translator: Translator, path, make_pairs: bool):
  """(source uint8 (H, W, Cs), target or None) of one input file."""
  data = translator.config.data
  channels = translator.meta['source_shape'][-1]
  if make_pairs:
    image = paired_data._read(path, {1: 'L', 3: 'RGB'}.get(data.channels))  # pylint: disable=protected-access
    return paired_data.make_pair(image, data.name, path, data.direction,
                                 data.edge_sigma)
  image = paired_data._read(path, 'L' if channels == 1 else 'RGB')  # pylint: disable=protected-access
  return image, None


def inputs_of(path) -> list[pathlib.Path]:
  path = pathlib.Path(path)
  if path.is_file():
    return [path]
  if not path.is_dir():
    raise errors.MissingFileError(f'--input={path} does not exist.')
  found = sorted(p for p in path.rglob('*') if p.is_file() and
                 p.suffix.lower() in input_pipeline.IMAGE_EXTENSIONS)
  if not found:
    raise errors.MissingFileError(f'--input={path} holds no images.')
  return found


def _inpaint_file(translator: Translator, path) -> str | None:
  """Fills the hole (--mask) of one image; returns what was done."""
  channels = translator.meta['sample_shape'][-1]
  try:
    image = paired_data._read(path, 'L' if channels == 1 else 'RGB')  # pylint: disable=protected-access
  except (OSError, ValueError, SyntaxError) as e:
    logging.warning('Skipped %s: %s', path, e)
    return None
  hole = inpainting.user_hole(
      translator.config, translator.meta['sample_shape'][0], FLAGS.mask,
      image)
  filled = translator.inpaint(image, hole)
  writers.save_image(os.path.join(FLAGS.out, f'{path.stem}.png'),
                     filled[..., 0] if channels == 1 else filled)
  masked = np.where(hole[..., None], 255, image).astype(np.uint8)
  writers.save_image(
      os.path.join(FLAGS.out, f'grid_{path.stem}.png'),
      paired.translation_grid(masked[None], filled[None], image[None]))
  return (f'{path} ({image.shape[1]}x{image.shape[0]}, {int(hole.sum())} '
          'hole pixels)')


def _translate_file(translator: Translator, path) -> str | None:
  """Translates one image (or the source of a pair, --pairs)."""
  try:
    source, target = source_of(translator, path, FLAGS.pairs)
  except (OSError, ValueError, SyntaxError) as e:
    logging.warning('Skipped %s: %s', path, e)
    return None
  output = translator.translate(source)
  pixels = np.clip(np.round((output + 1) * 127.5), 0, 255).astype(np.uint8)
  writers.save_image(os.path.join(FLAGS.out, f'{path.stem}.png'),
                     pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
  writers.save_image(
      os.path.join(FLAGS.out, f'grid_{path.stem}.png'),
      paired.translation_grid(source[None], output[None],
                              None if target is None else target[None]))
  return f'{path} ({source.shape[1]}x{source.shape[0]})'


def main(argv):
  del argv
  translator = load(FLAGS.workdir, FLAGS.step, FLAGS.best, FLAGS.direction)
  needs_mask = (translator.direction is None and
                paired.TASKS[translator.config.data.name].needs_mask)
  if translator.direction is not None and FLAGS.pairs:
    raise errors.ConfigError(
        f'--pairs: {FLAGS.workdir} is an unpaired run, whose inputs are '
        'images of one domain (drop --pairs; --direction picks the domain)')
  if needs_mask and not FLAGS.mask:
    raise errors.ConfigError(
        f'{FLAGS.workdir} is an inpainting run: pass --mask=IMAGE (white = '
        "the hole, the input's size) or --mask=run")
  apply = _inpaint_file if needs_mask else _translate_file
  os.makedirs(FLAGS.out, exist_ok=True)
  for path in inputs_of(FLAGS.input):
    done = apply(translator, path)
    if done:
      print(f'{done} -> {os.path.join(FLAGS.out, path.stem + ".png")}')


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['workdir', 'input', 'out'])
  cli.run(main)
