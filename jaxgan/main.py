r"""Trains a GAN. Kept short: everything else is importable and tested.

  python -m jaxgan.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
  python -m jaxgan.main --config=configs/dcgan.py:fashion_mnist \
      --workdir=runs/dcgan --config.train.num_steps=2000
"""

import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from jaxgan import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:dataset]).',
    lock_config=True)
flags.DEFINE_string('workdir', None, 'Where the run writes everything.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if os.environ.get('JAXGAN_DISTRIBUTED') == '1':
    jax.distributed.initialize()
  logging.info('JAX %s, %d process(es), devices: %s', jax.__version__,
               jax.process_count(), jax.devices())
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
