"""A broken trainer fails here, not only in a picture: ring8 mode coverage."""

import jax
import numpy as np

from benchmarks import outcome_seeds
from configs import gan_mlp
from jaxgan import train
from jaxgan.families import gan as gan_family


def test_non_saturating_gan_covers_ring8_modes(tmp_path):
  # Modes holding >= 1% of 2,500 samples within 0.15 of their centre, after
  # 1,500 steps. Over 30 seeds (python -m benchmarks.outcome_seeds
  # --num_seeds=30 --outcomes=ring8_gan, Xeon AVX-512): mean 6.97, sd 1.9,
  # and 5 of 30 seeds below 6 (1, 3, 3, 4, 5), so no single seed is a test
  # on another processor. The mean of 4 seeds falls below 4 in 0.4% of
  # bootstrap draws from those 30; a trainer that does not learn covers
  # 0-2 modes.
  covered = []
  devices = jax.devices()[:1]  # Tiny networks: one device is fastest.
  for seed in range(4):
    config = gan_mlp.get_config('ring8')
    config.seed = seed
    config.train.num_steps = 1500
    config.log_every = 500
    config.sample_every = 1500
    state = train.train_and_evaluate(config, tmp_path / str(seed), devices)
    trainer = train.Trainer(config, (2,), devices)
    samples = trainer.predict(state,
                              {'z': gan_family.fixed_noise(config, 2500)})
    covered.append(outcome_seeds.ring8_covered_modes(samples))
  assert np.mean(covered) >= 4, covered
  assert (tmp_path / '0' / 'samples' / 'step_001500.png').exists()
