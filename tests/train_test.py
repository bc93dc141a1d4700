"""The compiled GAN iteration: critic updates, counts, traces, devices."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import dcgan, gan_mlp, wgan, wgan_gp
from jaxgan import input_pipeline
from jaxgan import train
from jaxgan.families import gan as gan_family


def _tiny(config, image_size=(16, 16), batch_size=8):
  config.train.batch_size = batch_size
  config.model.g_features = 8
  config.model.d_features = 8
  config.model.latent_dim = 16
  config.model.g_hidden = (32, 32)
  config.model.d_hidden = (32,)
  return config, tuple(image_size) + (1,)


def _real_batches(config, shape, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (config.train.n_critic, config.train.batch_size)
                      + shape, dtype=np.uint8)


def test_critic_update_lowers_the_critic_loss_on_a_fixed_batch():
  config, shape = _tiny(wgan_gp.get_config())
  gan = gan_family.GAN(config, shape)
  state = jax.jit(gan.init)(jax.random.key(0))  # Eager would compile op by op.
  real = input_pipeline.to_model_input(_real_batches(config, shape)[0])
  fake, _ = jax.jit(gan.generate)(state.g_params, state.g_state,
                                  gan.noise(jax.random.key(1)))
  key = jax.random.key(2)
  loss = jax.jit(lambda p: gan.critic_loss(p, state.d_state, real, None, fake,
                                           {}, key)[0])
  d_params, d_opt_state = state.d_params, state.d_opt_state
  before = loss(d_params)
  update = jax.jit(gan.critic_update)
  for _ in range(5):
    d_params, _, d_opt_state, _ = update(d_params, state.d_state, d_opt_state,
                                         real, None, fake, {}, key)
  assert loss(d_params) < before - 1e-3


@pytest.mark.parametrize('n_critic', [1, 4])  # Without and with the scan.
def test_critic_runs_exactly_n_critic_times_per_iteration(n_critic):
  # WGAN (no penalty): the counts do not depend on the loss, and its
  # iteration compiles several times faster than WGAN-GP's double backward.
  config, shape = _tiny(wgan.get_config())
  for optimizer in (config.train.d_optimizer, config.train.g_optimizer):
    optimizer.name = 'adam'  # RMSprop keeps no step count.
  config.train.n_critic = n_critic
  gan = gan_family.GAN(config, shape)
  state = jax.jit(gan.init)(jax.random.key(0))
  step = jax.jit(gan.iteration)
  for i in range(1, 3):
    state, _ = step(state, _real_batches(config, shape, i))
    assert optax.tree_utils.tree_get(state.d_opt_state, 'count') == i * n_critic
    assert optax.tree_utils.tree_get(state.g_opt_state, 'count') == i
  assert int(state.step) == 2


def test_weight_clipping_bounds_every_critic_weight():
  config, shape = _tiny(wgan.get_config())
  gan = gan_family.GAN(config, shape)
  state, _ = jax.jit(gan.iteration)(jax.jit(gan.init)(jax.random.key(0)),
                                    _real_batches(config, shape))
  leaves = jax.tree.leaves(state.d_params)
  assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= 0.01 + 1e-7


def test_step_traces_once_and_reports_metrics():
  config, shape = _tiny(dcgan.get_config())
  trainer = train.Trainer(config, shape)
  state = trainer.init_state()
  for i in range(3):
    state, metrics = trainer.step(state, {'image': _real_batches(config, shape, i)})
  assert trainer.trace_count == 1
  host = trainer.unreplicate(metrics)
  for name in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm',
               'g_grad_norm', 'finite'):
    assert np.isfinite(host[name]), name
  assert all(np.ndim(v) == 0 for v in host.values())


def test_ema_tracks_the_generator():
  config, shape = _tiny(gan_mlp.get_config())
  config.train.ema_decay = 0.5
  gan = gan_family.GAN(config, shape)
  state0 = jax.jit(gan.init)(jax.random.key(0))
  state1, _ = jax.jit(gan.iteration)(state0, _real_batches(config, shape))
  want = jax.tree.map(lambda e, g: 0.5 * e + 0.5 * g, state0.ema_params,
                      state1.g_params)
  for a, b in zip(jax.tree.leaves(state1.ema_params), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_standing_statistics_are_the_weights_own():
  """BatchNorm statistics for weights training never ran (an EMA's): with
  one batch's, eval mode gives training mode's outputs on that batch, layer
  after layer; over K batches they are the batches' mean."""
  config, shape = _tiny(dcgan.get_config())
  gan = gan_family.GAN(config, shape)
  state = jax.jit(gan.init)(jax.random.key(0))
  # Weights whose statistics no running average kept.
  params = jax.tree.map(lambda p: 1.2 * p, state.g_params)
  standing = jax.jit(gan_family.standing_statistics, static_argnums=0)
  generate = jax.jit(gan.generate, static_argnames='train')
  z1, z2 = gan.noise(jax.random.key(1)), gan.noise(jax.random.key(2))
  one = standing(gan.generator, params, state.g_state, z1[None])
  trained, _ = generate(params, state.g_state, z1, train=True)
  np.testing.assert_allclose(generate(params, one, z1, train=False)[0],
                             trained, atol=1e-4)
  stale, _ = generate(params, state.g_state, z1, train=False)
  assert np.abs(stale - trained).max() > 1e-2
  other = standing(gan.generator, params, state.g_state, z2[None])
  both = standing(gan.generator, params, state.g_state, jnp.stack([z1, z2]))
  for a, b, c in zip(jax.tree.leaves(both), jax.tree.leaves(one),
                     jax.tree.leaves(other), strict=True):
    np.testing.assert_allclose(a, (b + c) / 2, rtol=1e-5, atol=1e-6)
  # A generator without BatchNorm keeps its (empty) state.
  assert gan_family.standing_statistics(None, params, {}, z1[None]) == {}


def test_ema_predictions_use_the_ema_weights_own_statistics():
  """The trainer's EMA samples (evaluation with config.eval.use_ema) and
  `sample`'s: the EMA weights with `standing_statistics` over
  `standing_inputs`, recomputed when the state moves on."""
  from jaxgan import sample  # pylint: disable=g-import-not-at-top
  config, shape = _tiny(dcgan.get_config())
  config.train.ema_decay = 0.5
  trainer = train.Trainer(config, shape, devices=jax.devices()[:1])
  gan = trainer.family
  state, _ = trainer.step(trainer.init_state(),
                          {'image': _real_batches(config, shape)})
  host = trainer.unreplicate(state)
  z = np.asarray(gan.noise(jax.random.key(3)))
  inputs = gan_family.standing_inputs(config)
  assert inputs[0].shape == (gan_family.STANDING_BATCHES, 8, 16)
  own = gan_family.standing_statistics(gan.generator, host.ema_params,
                                       host.g_state, *inputs)
  want, _ = gan.generate(host.ema_params, own, z, train=False)
  got = trainer.predict(state, {'z': z}, ema=True)
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert not np.allclose(got, gan.generate(host.ema_params, host.g_state, z,
                                           train=False)[0], atol=1e-3)
  generator = sample.Generator(config, {}, 1, gan.generator,
                               {'params': host.g_params, **host.g_state},
                               host.ema_params)
  np.testing.assert_allclose(generator(z, ema=True), want, atol=1e-5)
  np.testing.assert_allclose(trainer.predict(state, {'z': z}), generator(z),
                             atol=1e-5)
  state, _ = trainer.step(state, {'image': _real_batches(config, shape, 1)})
  assert not np.allclose(trainer.predict(state, {'z': z}, ema=True), got,
                         atol=1e-4)


def _run(config, shape, devices, batches):
  trainer = train.Trainer(config, shape, devices=devices)
  state = trainer.init_state()
  for batch, labels in batches:
    state, _ = trainer.step(state, {'image': batch, 'label': labels})
  return trainer.unreplicate(state)


def _conditional_dcgan():
  # Labels travel with the batch and are drawn for fakes: the projection
  # discriminator sees them, the ACGAN head predicts them.
  config = dcgan.get_config()
  config.model.conditioning = 'projection'
  config.model.aux_classifier = True
  config.model.num_classes = 10
  return config


@pytest.mark.parametrize('parallelism', ['jit', 'pmap'])
# Both convolution formulations; WGAN-GP's with XLA's convolutions, whose
# double backward compiles twice as fast as the matmul one's.
@pytest.mark.parametrize('make_config,conv_impl', [(_conditional_dcgan, 'matmul'),
                                                   (wgan_gp.get_config, 'conv')])
def test_eight_devices_match_one_device(parallelism, make_config, conv_impl):
  assert jax.device_count() == 8, 'conftest sets 8 fake CPU devices'
  config, shape = _tiny(make_config(), batch_size=16)
  config.train.n_critic = min(config.train.n_critic, 2)
  config.parallelism = parallelism
  config.model.conv_impl = conv_impl
  rng = np.random.default_rng(0)
  batches = [(_real_batches(config, shape, i),
              rng.integers(0, 10, (config.train.n_critic, 16)).astype(np.int32))
             for i in range(3)]
  one = _run(config, shape, jax.devices()[:1], batches)
  eight = _run(config, shape, jax.devices(), batches)
  assert int(one.step) == int(eight.step) == 3
  for tree in ('g_params', 'd_params', 'g_state', 'd_state'):
    for a, b in zip(jax.tree.leaves(getattr(one, tree)),
                    jax.tree.leaves(getattr(eight, tree))):
      rel = np.linalg.norm(np.asarray(a) - np.asarray(b)) / (
          np.linalg.norm(np.asarray(a)) + 1e-12)
      assert rel < 1e-5, (tree, rel)


def test_batch_must_divide_by_device_count():
  config, shape = _tiny(dcgan.get_config(), batch_size=12)
  with pytest.raises(ValueError, match='does not divide by the 8 devices'):
    train.Trainer(config, shape)


def test_penalty_with_batchnorm_critic_is_refused():
  config, shape = _tiny(wgan_gp.get_config())
  config.model.d_norm = 'batch'
  with pytest.raises(ValueError, match='d_norm=layer'):
    gan_family.GAN(config, shape)


def test_non_finite_loss_stops_training_naming_step_and_metric(tmp_path):
  config = gan_mlp.get_config('ring8')
  config.train.num_steps = 50
  config.log_every = 1000
  config.sample_every = 1000
  config.train.d_optimizer.learning_rate = 1e30
  config.train.g_optimizer.learning_rate = 1e30
  with pytest.raises(train.NonFiniteError,
                     match=r'non-finite .*loss.* at step \d+'):
    train.train_and_evaluate(config, tmp_path)


@pytest.mark.parametrize('parallelism', ['jit', 'pmap'])
def test_several_steps_per_dispatch_match_one_step_per_call(parallelism):
  config, shape = _tiny(gan_mlp.get_config(), batch_size=16)
  config.parallelism = parallelism
  batches = [{'image': _real_batches(config, shape, i)} for i in range(3)]
  trainer = train.Trainer(config, shape)
  one = trainer.init_state()
  for batch in batches:
    one, one_metrics = trainer.step(one, batch)
  scanned, metrics = trainer.steps(trainer.init_state(), batches)
  assert trainer.trace_count == 2  # One trace per step function.
  one, scanned = trainer.unreplicate(one), trainer.unreplicate(scanned)
  assert int(one.step) == int(scanned.step) == 3
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(scanned)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                               atol=1e-6)
  host, want = trainer.unreplicate(metrics), trainer.unreplicate(one_metrics)
  assert host['finite']
  np.testing.assert_allclose(host['d_loss'], want['d_loss'], rtol=1e-5)


def test_training_loop_dispatches_several_steps_and_keeps_events(tmp_path):
  config = gan_mlp.get_config('ring8')
  config.train.steps_per_dispatch = 4
  config.train.num_steps = 10  # 4 + 4, then 2 single steps.
  config.log_every = 4
  config.sample_every = 1000
  config.checkpoint_every = 8
  train.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'metrics.jsonl') as f:
    logged = [json.loads(line)['step'] for line in f]
  assert logged == [4, 8, 10]
  assert sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir()
                if p.name.isdigit()) == [8, 10]


def test_penalty_pass_alone_keeps_the_second_derivative_form():
  # WGAN-GP's critic: the penalty's pass (differentiated twice) keeps
  # DownConv's im2col form, the plain passes take the faster first-derivative
  # forms; both compute the same function, so the critic's gradient is the
  # one the unsplit critic gives.
  config, _ = _tiny(wgan_gp.get_config())
  config.model.conv_impl = 'matmul'
  config.model.d_features = 64  # 64 x 8 x 8 into the second DownConv.
  shape = (16, 16, 3)
  gan = gan_family.GAN(config, shape)
  assert gan.penalty_discriminator.double_backward
  assert not gan.discriminator.double_backward
  state = gan.init(jax.random.key(0))
  real = jax.random.uniform(jax.random.key(1), (8,) + shape) * 2 - 1
  fake = jax.random.uniform(jax.random.key(2), (8,) + shape) * 2 - 1

  def critic_grads(gan):
    return jax.grad(lambda p: gan.critic_loss(
        p, state.d_state, real, None, fake, {}, jax.random.key(3))[0])(
            state.d_params)

  split = critic_grads(gan)
  gan.discriminator = gan.penalty_discriminator
  unsplit = critic_grads(gan)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               split, unsplit)


def test_bfloat16_computes_in_bf16_and_training_stays_finite():
  config, shape = _tiny(dcgan.get_config())
  config.dtype = 'bfloat16'
  trainer = train.Trainer(config, shape, devices=jax.devices()[:1])
  state = trainer.init_state()
  gan = trainer.family
  jaxpr = str(jax.make_jaxpr(gan.generate)(
      state.g_params, state.g_state, gan.noise(jax.random.key(0))))
  assert 'bf16[' in jaxpr  # The convolutions run in bfloat16 ...
  for i in range(20):
    state, metrics = trainer.step(state, {'image': _real_batches(config, shape, i)})
    host = trainer.unreplicate(metrics)
    assert host['finite'] and all(np.isfinite(v) for v in host.values()), i
  # ... while parameters and optimizer state stay float32.
  for leaf in jax.tree.leaves((state.g_params, state.d_params,
                               state.g_opt_state, state.d_opt_state)):
    assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
  samples = trainer.predict(state,
                            {'z': np.asarray(gan.noise(jax.random.key(1)))})
  assert samples.dtype == np.float32 and np.isfinite(samples).all()
