r"""Trains a GAN. Kept short: everything else is importable and tested.

  python -m jaxgan.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
  python -m jaxgan.main --config=configs/dcgan.py:fashion_mnist \
      --workdir=runs/dcgan --config.train.num_steps=2000
"""

if __name__ == '__main__':
  # Before jax loads: glibc reads its tunables at start (jaxgan/hugepages.py).
  from jaxgan import hugepages  # pylint: disable=g-import-not-at-top
  hugepages.reexec()

import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from jaxgan import cli
from jaxgan import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:dataset]).',
    lock_config=True)
flags.DEFINE_string('workdir', None, 'Where the run writes everything.')
flags.DEFINE_bool('restart', False, 'Start again at step 0 in a workdir that '
                  'holds an earlier run; its records (metrics, checkpoints, '
                  'samples) move to WORKDIR/restarted-N/ first.')
flags.mark_flags_as_required(['config', 'workdir'])


def initialize_distributed():
  """`jax.distributed.initialize()`, for every process of a multi-host run.

  On TPU VMs and under Slurm JAX finds the coordinator itself; elsewhere
  (several processes on one machine, a custom cluster) set
  JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
  CPU processes exchange collectives over gloo.
  """
  kwargs = {}
  if os.environ.get('JAX_COORDINATOR_ADDRESS'):
    kwargs = dict(coordinator_address=os.environ['JAX_COORDINATOR_ADDRESS'],
                  num_processes=int(os.environ['JAX_NUM_PROCESSES']),
                  process_id=int(os.environ['JAX_PROCESS_ID']))
  if os.environ.get('JAX_PLATFORMS', '') == 'cpu':
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(**kwargs)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if os.environ.get('JAXGAN_DISTRIBUTED') == '1':
    initialize_distributed()
  logging.info('JAX %s, process %d of %d, devices: %s', jax.__version__,
               jax.process_index(), jax.process_count(), jax.devices())
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                           restart=FLAGS.restart)


if __name__ == '__main__':
  cli.run(main)
