r"""Samples from a run's checkpoint, without its dataset.

  python -m jaxgan.sample --workdir=runs/wgan_gp --out=grid.png
  python -m jaxgan.sample --workdir=runs/dcgan --step=2000 --num=1000 \
      --seed=1 --ema --out=samples.npz
  python -m jaxgan.sample --workdir=runs/dcgan --best --out=best.png

Controllable generation (`--mode`):

  # Conditional models: one row per class, the same noise down each column.
  python -m jaxgan.sample --workdir=runs/cgan --mode=classes --out=classes.png
  # Interpolation between random latents (slerp or linear), or, for
  # conditional models, between classes at fixed noise.
  python -m jaxgan.sample --workdir=runs/dcgan --mode=interpolate \
      --interpolation=slerp --out=interp.png
  python -m jaxgan.sample --workdir=runs/cgan --mode=interpolate \
      --between=classes --out=class_interp.png
  # InfoGAN: one code varied per row.
  python -m jaxgan.sample --workdir=runs/infogan --mode=codes --out=codes.png
  # Edit z by gradient ascent on the domain classifier's log p(target).
  python -m jaxgan.sample --workdir=runs/dcgan --mode=direction --target=3 \
      --out=to_three.png

Reads the config, sample shape and dataset name saved in the checkpoint, so
it needs neither the config file nor the data, and restores onto one device
of this machine whatever the device count of the machine that trained.
`.png` writes a grid (a scatter over the mixture for 2D data); `.npz` writes
the arrays `samples` (in [-1, 1] for images), `z`, `labels` (conditional
models), `step` and `seed`.
"""

import dataclasses
import functools
import json
import os
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from jaxgan import checkpoints
from jaxgan import cli
from jaxgan import controls
from jaxgan import errors
from jaxgan import input_pipeline
from jaxgan import writers
from jaxgan.families import gan as gan_family

FLAGS = flags.FLAGS


MODES = ('random', 'classes', 'interpolate', 'codes', 'direction')


def define_flags():
  """The command line; defined only when run as a program, so that the
  library imports without claiming flag names."""
  flags.DEFINE_string('workdir', None, 'The run to sample from.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('num', 64, 'random: how many samples; classes: '
                       'columns per class; interpolate, codes, direction: '
                       'rows (default 8 for these).')
  flags.DEFINE_integer('seed', 0, 'Seed of the noise.')
  flags.DEFINE_bool('ema', False, 'Use the EMA of the generator weights.')
  flags.DEFINE_string('out', None, 'Output: a .png grid or an .npz of arrays.')
  flags.DEFINE_bool('best', False, 'From the best-FID checkpoint '
                    '(WORKDIR/checkpoints_best, kept by config.eval_every).')
  flags.DEFINE_enum('mode', 'random', MODES, 'What to draw; see the module '
                    'docstring.')
  flags.DEFINE_integer('steps', 10, 'interpolate, codes: columns per row.')
  flags.DEFINE_enum('interpolation', 'slerp', list(controls.INTERPOLATIONS),
                    'interpolate: the path between two latents.')
  flags.DEFINE_enum('between', 'latents', ['latents', 'classes'],
                    'interpolate: two random latents (same class), or two '
                    'classes (same noise; conditional models).')
  flags.DEFINE_integer('target', None, 'direction: the class to move toward.')
  flags.DEFINE_integer('direction_steps', 100, 'direction: gradient steps.')
  flags.DEFINE_float('step_size', 0.05, 'direction: length of each step in '
                     'latent space.')
  flags.DEFINE_string('classifier', None, 'direction: a classifier artifact '
                      '(default: the domain classifier of the run\'s dataset).')


@dataclasses.dataclass
class Generator:
  """A trained generator restored from a checkpoint."""
  config: Any
  meta: dict
  step: int
  module: Any
  variables: dict  # {'params': ..., 'batch_stats': ...}
  ema_params: Any

  @functools.cached_property
  def ema_variables(self) -> dict:
    """The EMA weights with BatchNorm statistics of their own
    (`gan.standing_statistics`, as training's evaluation gives them)."""
    state = {k: v for k, v in self.variables.items() if k != 'params'}
    state = jax.jit(functools.partial(
        gan_family.ema_statistics, self.module, self.config))(
            self.ema_params, state)
    return {'params': self.ema_params, **state}

  @property
  def num_classes(self) -> int:
    return gan_family.num_classes(self.config)

  @property
  def has_ema(self) -> bool:
    return self.config.train.ema_decay > 0

  def apply(self, z, labels=None, ema: bool = False) -> jax.Array:
    """Differentiable G(z[, labels]) (eval-mode BatchNorm)."""
    if ema and not self.has_ema:
      raise errors.ConfigError(
          f'--ema: this run was trained without an EMA of the generator '
          f'(config.train.ema_decay={self.config.train.ema_decay}), so there '
          'is none to sample from. Drop --ema, or train with '
          '--config.train.ema_decay=0.999.')
    variables = self.ema_variables if ema else self.variables
    return self.module.apply(variables, z, labels, train=False)

  @functools.cached_property
  def _jitted_apply(self):
    # Compiled once per generator (and input shape), not once per call.
    return jax.jit(self.apply, static_argnames='ema')

  def __call__(self, z, labels=None, ema: bool = False) -> np.ndarray:
    if self.num_classes and labels is None:
      raise errors.ConfigError(f'this generator is class-conditional '
                       f'({self.num_classes} classes): pass labels.')
    return np.asarray(self._jitted_apply(z, labels, ema=ema))


def load(workdir: str, step: int | None = None,
         best: bool = False) -> Generator:
  """The generator of `workdir`'s checkpoint `step` (default: the latest).

  `best`: from WORKDIR/checkpoints_best, the best-FID checkpoint that
  `config.eval_every` keeps.
  """
  run = checkpoints.read_run(
      workdir, step, best, 'gan', 'it translates inputs rather than sampling '
      'from noise: use python -m jaxgan.translate '
      f'--workdir={workdir} --input=IMAGE_OR_DIR --out=DIR.')
  config, meta, raw = run.config, run.meta, run.raw
  generator, _ = gan_family.create_models(config, tuple(meta['sample_shape']))
  g_state = dict(raw.get('g_state', {}))
  return Generator(config, meta, run.step, generator,
                   {'params': raw['g_params'], **g_state}, raw['ema_params'])


def noise(generator: Generator, num: int, seed: int) -> np.ndarray:
  shape = (num, generator.config.model.latent_dim)
  return np.asarray(jax.random.normal(jax.random.key(seed), shape))


def random_inputs(generator: Generator, num: int, seed: int):
  """(latents, labels, categories): `noise` with classes and InfoGAN codes
  laid out by `gan_family.cycled_latents` (classes and categories cycle,
  i % K, so every class gets num / K samples)."""
  key = jax.random.fold_in(jax.random.key(seed), 1)
  return gan_family.cycled_latents(generator.config,
                                   noise(generator, num, seed), key)


def class_grid(generator: Generator, columns: int, seed: int):
  """-> (z, labels, columns): row k is class k."""
  if not generator.num_classes:
    raise errors.ConfigError('--mode=classes needs a class-conditional run (cgan, '
                     'acgan); this one is unconditional.')
  z, _, _ = random_inputs(generator, columns, seed)
  z, labels = controls.class_rows(z, generator.num_classes)
  return z, labels, columns


def interpolation_grid(generator: Generator, rows: int, steps: int, seed: int,
                       method: str = 'slerp', between: str = 'latents'):
  """-> (z, labels, columns): each row a path from one input to another.

  between='latents': from one random latent to another (class k in row k of
  a conditional model); between='classes': fixed noise, the class vector
  moving from class k to class k + 1 (conditional models).
  """
  classes = generator.num_classes
  starts, _, _ = random_inputs(generator, rows, seed)
  zs, labels = [], []
  if between == 'classes':
    if not classes:
      raise errors.ConfigError('--between=classes needs a class-conditional run.')
    for row in range(rows):
      z, vectors = controls.class_interpolation(
          starts[row], row % classes, (row + 1) % classes, classes, steps)
      zs.append(z)
      labels.append(vectors)
  elif between == 'latents':
    ends, _, _ = random_inputs(generator, rows, seed + 1)
    for row in range(rows):
      zs.append(controls.interpolate(starts[row], ends[row], steps, method))
      if classes:
        labels.append(np.full(steps, row % classes, np.int32))
  else:
    raise errors.ConfigError(f'between={between!r}: use latents or classes')
  return (np.concatenate(zs).astype(np.float32),
          np.concatenate(labels) if labels else None, steps)


def code_grid(generator: Generator, rows: int, steps: int, seed: int):
  """-> (z, labels, columns): InfoGAN code sweeps (`controls.code_sweeps`)."""
  m = generator.config.model
  if not (m.info_categorical or m.info_continuous):
    raise errors.ConfigError('--mode=codes needs an InfoGAN run (configs/infogan.py);'
                     ' this one has no latent codes.')
  noise_rows, categorical, continuous, columns = controls.code_sweeps(
      noise(generator, rows, seed), m.info_categorical, m.info_continuous,
      steps)
  z = np.asarray(gan_family.latent_vector(generator.config, noise_rows,
                                          categorical, continuous))
  classes = generator.num_classes
  labels = (np.zeros(len(z), np.int32) if classes else None)
  return z, labels, columns


def direction(generator: Generator, rows: int, seed: int, target: int,
              log_probs, num_steps: int = 100, step_size: float = 0.05,
              frames: int = 8, ema: bool = False):
  """-> (z, labels, columns, report): per row, the path of z toward
  `target` under the classifier `log_probs` (`controls.latent_direction`)."""
  z, labels, _ = random_inputs(generator, rows, seed)
  generate = lambda z: generator.apply(z, labels, ema=ema)
  result = controls.latent_direction(generate, log_probs, z, target,
                                     num_steps, step_size, frames)
  path = np.swapaxes(result['frames'], 0, 1).reshape(-1, z.shape[-1])
  path_labels = None if labels is None else np.repeat(labels, frames)
  report = {k: np.asarray(v).tolist() for k, v in result.items()
            if k != 'frames'}
  report.update(target=target, num_steps=num_steps, step_size=step_size,
                mean_prob_change=float(np.mean(result['end_prob'] -
                                               result['start_prob'])),
                reached_target=float(np.mean(result['end_class'] == target)))
  return path, path_labels, frames, report


def classifier_log_probs(generator: Generator, path: str | None = None):
  """The domain classifier of the run's dataset, as a differentiable
  samples -> log-probabilities function."""
  from jaxgan import classifier  # pylint: disable=g-import-not-at-top
  network = classifier.ClassifierNetwork.load(
      path or generator.meta['dataset'].split(':')[0])
  return network.log_probs


def write(path: str, samples: np.ndarray, z: np.ndarray,
          generator: Generator, seed: int, labels=None,
          columns: int | None = None):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if path.endswith('.npz'):
    extra = {} if labels is None else {'labels': labels}
    np.savez(path, samples=samples, z=z, step=generator.step, seed=seed,
             **extra)
  elif path.endswith('.png'):
    if samples.ndim == 4:
      writers.save_image(path, writers.image_grid(samples, columns))
    else:
      modes, std = input_pipeline.mixture_modes(generator.meta['dataset'])
      writers.scatter_plot(path, samples, modes, std,
                           f"{generator.meta['dataset']}, step "
                           f'{generator.step}')
  else:
    raise errors.ConfigError(f'--out={path}: use a .png (grid) or .npz (arrays) '
                     'file name')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not (FLAGS.out.endswith('.png') or FLAGS.out.endswith('.npz')):
    raise app.UsageError(f'--out={FLAGS.out}: use a .png or .npz file name')
  generator = load(FLAGS.workdir, FLAGS.step, FLAGS.best)
  rows = FLAGS.num if FLAGS['num'].present else 8
  columns = report = None
  if FLAGS.mode == 'random':
    z, labels, _ = random_inputs(generator, FLAGS.num, FLAGS.seed)
  elif FLAGS.mode == 'classes':
    z, labels, columns = class_grid(
        generator, FLAGS.num if FLAGS['num'].present else 10, FLAGS.seed)
  elif FLAGS.mode == 'interpolate':
    z, labels, columns = interpolation_grid(
        generator, rows, FLAGS.steps, FLAGS.seed, FLAGS.interpolation,
        FLAGS.between)
  elif FLAGS.mode == 'codes':
    z, labels, columns = code_grid(generator, rows, FLAGS.steps, FLAGS.seed)
  else:
    if FLAGS.target is None:
      raise app.UsageError('--mode=direction needs --target=CLASS')
    z, labels, columns, report = direction(
        generator, rows, FLAGS.seed, FLAGS.target,
        classifier_log_probs(generator, FLAGS.classifier),
        FLAGS.direction_steps, FLAGS.step_size, ema=FLAGS.ema)
  samples = generator(z, labels, ema=FLAGS.ema)
  write(FLAGS.out, samples, z, generator, FLAGS.seed, labels, columns)
  logging.info('Wrote %d samples of step %d%s to %s', len(samples),
               generator.step, ' (EMA)' if FLAGS.ema else '', FLAGS.out)
  if report is not None:
    print(json.dumps({k: report[k] for k in (
        'target', 'mean_prob_change', 'reached_target', 'start_prob',
        'end_prob', 'start_class', 'end_class', 'distance', 'start_norm')}))


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['workdir', 'out'])
  cli.run(main)
