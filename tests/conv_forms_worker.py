"""One process of tests/conv_forms_test.py's two-process test.

  conv_forms_worker.py seed   one process: writes a cache ($JAXGAN_CACHE) in
                              which every convolution of a tiny DCGAN's
                              iteration has a form the rules do not choose
  conv_forms_worker.py train  one of 2 processes (JAX_PROCESS_ID ...): the
                              trainer's first step; prints the forms it took

Each prints one JSON line last.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from configs import dcgan  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import main  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan.networks import conv_forms  # pylint: disable=g-import-not-at-top,wrong-import-position

SHAPE = (16, 16, 1)


def _trainer():
  config = dcgan.get_config()
  config.train.batch_size = 8
  config.model.g_features = 8
  config.model.d_features = 8
  config.model.latent_dim = 16
  trainer = train.Trainer(config, SHAPE)
  rows = config.train.batch_size // jax.process_count()
  batch = {'image': np.random.default_rng(jax.process_index()).integers(
      0, 256, (config.train.n_critic, rows) + SHAPE, np.uint8)}
  return trainer, trainer.init_state(), batch


def seed():
  trainer, state, batch = _trainer()
  inputs = {k: trainer.shard_batch(v) for k, v in batch.items()}
  with conv_forms._recording() as sites:  # pylint: disable=protected-access
    jax.eval_shape(trainer.family.update, state, inputs)
  forms, rules = {}, {}
  for key, site in sites.items():
    rules[key] = conv_forms.rule(site)
    others = [n for n in conv_forms.candidates(site) if n != rules[key]]
    forms[key] = others[0] if others else rules[key]
  conv_forms._write_cache(conv_forms.cache_path(),  # pylint: disable=protected-access
                          {k: {'form': f, 'ms': {}} for k, f in forms.items()})
  return {'forms': forms, 'rules': rules}


def train_step():
  main.initialize_distributed()
  trainer, state, batch = _trainer()
  state, metrics = trainer.step(state, batch)
  jax.block_until_ready(metrics)
  report = trainer.conv_forms
  return {'process': jax.process_index(), 'forms': report.forms,
          'cached': report.cached, 'timed': report.timed}


if __name__ == '__main__':
  print(json.dumps(seed() if sys.argv[1] == 'seed' else train_step()))
