r"""Samples from a run's checkpoint, without its dataset.

  python -m jaxgan.sample --workdir=runs/wgan_gp --out=grid.png
  python -m jaxgan.sample --workdir=runs/dcgan --step=2000 --num=1000 \
      --seed=1 --ema --out=samples.npz
  python -m jaxgan.sample --workdir=runs/dcgan --best --out=best.png

Reads the config, sample shape and dataset name saved in the checkpoint, so
it needs neither the config file nor the data, and restores onto one device
of this machine whatever the device count of the machine that trained.
`.png` writes a grid (a scatter over the mixture for 2D data); `.npz` writes
the arrays `samples` (in [-1, 1] for images), `z`, `step` and `seed`.
"""

import dataclasses
import os
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from jaxgan import checkpoints
from jaxgan import input_pipeline
from jaxgan import models
from jaxgan import writers

FLAGS = flags.FLAGS


def define_flags():
  """The command line; defined only when run as a program, so that the
  library imports without claiming flag names."""
  flags.DEFINE_string('workdir', None, 'The run to sample from.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('num', 64, 'How many samples.')
  flags.DEFINE_integer('seed', 0, 'Seed of the noise.')
  flags.DEFINE_bool('ema', False, 'Use the EMA of the generator weights.')
  flags.DEFINE_string('out', None, 'Output: a .png grid or an .npz of arrays.')
  flags.DEFINE_bool('best', False, 'From the best-FID checkpoint '
                    '(WORKDIR/checkpoints_best, kept by config.eval_every).')


@dataclasses.dataclass
class Generator:
  """A trained generator restored from a checkpoint."""
  config: Any
  meta: dict
  step: int
  module: Any
  variables: dict  # {'params': ..., 'batch_stats': ...}
  ema_variables: dict

  def __call__(self, z, ema: bool = False) -> np.ndarray:
    variables = self.ema_variables if ema else self.variables
    apply = jax.jit(lambda v, z: self.module.apply(v, z, train=False))
    return np.asarray(apply(variables, z))


def load(workdir: str, step: int | None = None,
         best: bool = False) -> Generator:
  """The generator of `workdir`'s checkpoint `step` (default: the latest).

  `best`: from WORKDIR/checkpoints_best, the best-FID checkpoint that
  `config.eval_every` keeps.
  """
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir, best),
                                  read_only=True)
  steps = ckpt.all_steps()
  if not steps:
    raise checkpoints.NoCheckpointError(
        f'{ckpt.directory} holds no checkpoint: train first with '
        f'python -m jaxgan.main --workdir={workdir} ...')
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise ValueError(f'{workdir} has no checkpoint of step {step}; it has '
                     f'steps {steps}.')
  meta = ckpt.read_meta(step)
  config = checkpoints.config_from_meta(meta)
  generator, _ = models.create_models(config, tuple(meta['sample_shape']))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  raw = ckpt.restore_raw(step, device)
  ckpt.close()
  g_state = dict(raw.get('g_state', {}))
  return Generator(config, meta, step, generator,
                   {'params': raw['g_params'], **g_state},
                   {'params': raw['ema_params'], **g_state})


def noise(generator: Generator, num: int, seed: int) -> np.ndarray:
  shape = (num, generator.config.model.latent_dim)
  return np.asarray(jax.random.normal(jax.random.key(seed), shape))


def write(path: str, samples: np.ndarray, z: np.ndarray,
          generator: Generator, seed: int):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if path.endswith('.npz'):
    np.savez(path, samples=samples, z=z, step=generator.step, seed=seed)
  elif path.endswith('.png'):
    if samples.ndim == 4:
      writers.save_image(path, writers.image_grid(samples))
    else:
      modes, std = input_pipeline.mixture_modes(generator.meta['dataset'])
      writers.scatter_plot(path, samples, modes, std,
                           f"{generator.meta['dataset']}, step "
                           f'{generator.step}')
  else:
    raise ValueError(f'--out={path}: use a .png (grid) or .npz (arrays) '
                     'file name')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not (FLAGS.out.endswith('.png') or FLAGS.out.endswith('.npz')):
    raise app.UsageError(f'--out={FLAGS.out}: use a .png or .npz file name')
  generator = load(FLAGS.workdir, FLAGS.step, FLAGS.best)
  z = noise(generator, FLAGS.num, FLAGS.seed)
  samples = generator(z, ema=FLAGS.ema)
  write(FLAGS.out, samples, z, generator, FLAGS.seed)
  logging.info('Wrote %d samples of step %d%s to %s', FLAGS.num,
               generator.step, ' (EMA)' if FLAGS.ema else '', FLAGS.out)


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['workdir', 'out'])
  app.run(main)
