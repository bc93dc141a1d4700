"""A broken trainer fails here, not only in a picture: ring8 mode coverage."""

import jax
import numpy as np

from configs import gan_mlp
from jaxgan import input_pipeline
from jaxgan import train


def test_non_saturating_gan_covers_ring8_modes(tmp_path):
  config = gan_mlp.get_config('ring8')
  config.train.num_steps = 1500
  config.log_every = 500
  config.sample_every = 1500
  devices = jax.devices()[:1]  # Tiny networks: one device is fastest.
  trainer_state = train.train_and_evaluate(config, tmp_path, devices)
  trainer = train.Trainer(config, (2,), devices)
  samples = trainer.samples(trainer_state, train.fixed_noise(config, 2500))
  modes, std = input_pipeline.mixture_modes('ring8')
  distances = np.linalg.norm(samples[:, None] - modes[None], axis=-1)
  nearest = distances.argmin(1)
  close = distances.min(1) < 3 * std * 5  # Within 0.15 of a mode centre.
  counts = np.bincount(nearest[close], minlength=8)
  covered = int(np.sum(counts >= 25))  # >= 1% of samples at the mode.
  assert covered >= 6, (counts, close.mean())
  assert (tmp_path / 'samples' / 'step_001500.png').exists()
