"""Training-health signals (jaxgan/health.py): the statistics against NumPy,
the monitor's rules, and runs made to fail on purpose."""

import json

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy.spatial import distance

from configs import gan_mlp
from jaxgan import health
from jaxgan import losses
from jaxgan import train
from jaxgan.families import gan as gan_family


def test_batch_diversity_is_the_mean_pairwise_distance():
  x = np.random.default_rng(0).normal(size=(9, 3, 4, 2)).astype(np.float32)
  want = distance.pdist(x.reshape(9, -1)).mean()
  np.testing.assert_allclose(float(health.batch_diversity(jnp.asarray(x))),
                             want, rtol=1e-5)
  same = np.repeat(x[:1], 9, axis=0)
  assert float(health.diversity_ratio(jnp.asarray(same), jnp.asarray(x))) < 1e-3
  np.testing.assert_allclose(
      float(health.diversity_ratio(jnp.asarray(x), jnp.asarray(x))), 1.0,
      rtol=1e-6)


def test_discriminator_accuracies_against_numpy():
  real = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
  fake = np.array([-2.0, 0.2, -0.1, 0.0], np.float32)
  acc = lambda fn: tuple(float(a) for a in fn(jnp.asarray(real),
                                              jnp.asarray(fake)))
  # BCE and hinge: the sign. Real 3 of 4 above 0, fake 3 of 4 at or below.
  assert acc(losses.GAN_LOSSES['non_saturating'].accuracy) == (0.75, 0.75)
  assert acc(losses.GAN_LOSSES['hinge'].accuracy) == (0.75, 0.75)
  # Least squares: targets 1 and 0, threshold 0.5.
  assert acc(losses.GAN_LOSSES['least_squares'].accuracy) == (0.5, 1.0)
  # Wasserstein: the midpoint of the means (1.125 and -0.475): 0.325.
  mid = (real.mean() + fake.mean()) / 2
  assert acc(losses.GAN_LOSSES['wasserstein'].accuracy) == (
      np.mean(real > mid), np.mean(fake <= mid))
  # RaGAN: real above the fake mean, fake below the real mean.
  assert acc(losses.GAN_LOSSES['relativistic_average'].accuracy) == (
      np.mean(real > fake.mean()), np.mean(fake < real.mean()))


def _config(**kw):
  config = ml_collections.ConfigDict()
  health.add_config(config)
  config.health.update(kw)
  return config.health


def test_monitor_judges_the_window_median_reports_once_and_rearms():
  monitor = health.HealthMonitor(_config(patience_steps=30))
  bad = {'d_real_acc': 1.0, 'd_fake_acc': 0.995}
  good = {'d_real_acc': 0.7, 'd_fake_acc': 1.0}
  assert monitor.update(10, bad) == []
  assert monitor.update(30, bad) == []  # Watched 20 steps so far.
  (name, message), = monitor.update(40, bad)
  assert name == 'discriminator_wins'
  assert 'median over steps 10-40' in message and 'step 40' in message
  assert 'at least 99.5% of both' in message
  assert monitor.update(50, bad) == []  # Once per episode.
  assert monitor.update(60, good) == []  # One good batch: median still bad.
  assert monitor.update(80, good) == []  # Window 50-80: healthy, re-armed.
  assert monitor.update(90, bad) == []
  assert [n for n, _ in monitor.update(100, bad)] == ['discriminator_wins']


def test_monitor_gradient_reference_diversity_and_advice():
  monitor = health.HealthMonitor(
      _config(patience_steps=1, g_grad_ratio=0.01, diversity=0.1),
      {'mode_collapse': 'model.pack=2'})
  for step, norm in enumerate([1.0, 3.0, 2.0, 2.5, 1.5], start=1):
    assert monitor.update(step, {'g_grad_norm': norm}) == []
  assert monitor.reference('g_grad_norm') == 2.0
  assert monitor.update(6, {'g_grad_norm': 0.05}) == []  # 0.025 of 2: fine
  assert monitor.update(7, {'g_grad_norm': 0.01, 'diversity': 0.05}) == []
  warnings = dict(monitor.update(8, {'g_grad_norm': 0.01, 'diversity': 0.05}))
  assert sorted(warnings) == ['mode_collapse', 'vanishing_generator_gradient']
  assert 'model.pack=2' in warnings['mode_collapse']
  assert 'fell to 0.005 of its early median' in warnings[
      'vanishing_generator_gradient']
  off = health.HealthMonitor(_config(patience_steps=0))
  assert off.update(1, {'diversity': 0.0}) == []


def _warnings(workdir):
  records = [json.loads(l) for l in
             (workdir / 'metrics.jsonl').read_text().splitlines()]
  return {r['warning']: r for r in records if 'warning' in r}, records


def _config_run(tmp_path, num_steps):
  """An MLP GAN on 64 random binary 8x8 images made here."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  data = tmp_path / 'data'
  data.mkdir()
  rng = np.random.default_rng(0)
  for i in range(64):
    Image.fromarray((rng.integers(0, 2, (8, 8)) * 255).astype(
        np.uint8)).save(data / f'{i}.png')
  config = gan_mlp.get_config()
  config.data.name = 'folder'
  config.data.data_dir = str(data)
  config.data.image_size = (8, 8)
  config.data.channels = 1
  config.train.batch_size = 32
  config.model.g_hidden = (32,)
  config.model.d_hidden = (32,)
  config.train.num_steps = num_steps
  config.log_every = 5
  config.sample_every = 0
  config.checkpoint_every = 0
  config.health.patience_steps = 100
  return config


def test_a_frozen_generator_against_a_minimax_discriminator_warns(
    tmp_path, caplog):
  # The textbook failure: D learns, G does not (learning rate 0), and the
  # saturating minimax loss's gradient vanishes as D wins.
  config = _config_run(tmp_path, 600)
  config.loss.name = 'minimax'
  config.train.g_optimizer.learning_rate = 0.0
  config.train.d_optimizer.learning_rate = 1e-2
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  warnings, records = _warnings(tmp_path / 'run')
  assert set(warnings) == {'discriminator_wins',
                           'vanishing_generator_gradient'}, warnings
  assert 'loss.name=non_saturating' in warnings[
      'vanishing_generator_gradient']['message']
  assert 'loss.label_smoothing' in warnings['discriminator_wins']['message']
  assert 'train.diffaugment=' in warnings['discriminator_wins']['message']
  last = [r for r in records if 'd_real_acc' in r][-1]
  assert last['d_real_acc'] == last['d_fake_acc'] == 1.0
  assert any('Training health' in r.message for r in caplog.records)


def test_a_generator_that_ignores_its_noise_warns_of_mode_collapse(
    tmp_path, monkeypatch):
  latent = gan_family.GAN.latent

  def zero_noise(self, key):
    out = latent(self, key)
    return {**out, 'z': jnp.zeros_like(out['z'])}

  monkeypatch.setattr(gan_family.GAN, 'latent', zero_noise)
  config = _config_run(tmp_path, 200)
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  warnings, records = _warnings(tmp_path / 'run')
  assert 'mode_collapse' in warnings, warnings
  assert 'model.minibatch_std=4' in warnings['mode_collapse']['message']
  assert max(r['diversity'] for r in records if 'diversity' in r) < 1e-3


def test_a_healthy_run_stays_silent(tmp_path):
  config = _config_run(tmp_path, 200)
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  warnings, records = _warnings(tmp_path / 'run')
  assert not warnings
  assert min(r['diversity'] for r in records if 'diversity' in r) > 0.1


def test_patience_below_zero_is_refused():
  from jaxgan import config_lib, errors  # pylint: disable=g-import-not-at-top,g-multiple-import
  config = gan_mlp.get_config('ring8')
  config.health.patience_steps = -1
  with pytest.raises(errors.ConfigError, match='health.patience_steps'):
    config_lib.validate_values(config)
