"""SNGAN's ResNets (jaxgan/networks/sngan.py), the league's configs, and the
linear learning-rate decay."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import sngan as sngan_config
from jaxgan import errors
from jaxgan import networks
from jaxgan.families import gan as gan_family
from jaxgan.networks import sngan

# Counted by hand from the paper's tables (Miyato et al. 2018, Tables 4-6),
# weights and biases, BatchNorm scale and offset: e.g. G at 32 is the
# projection 128 x 4096 + 4096, three blocks of 1,246,976 (two 3x3 convs
# 256 -> 256, a 1x1 shortcut, two BatchNorms), BN 512 and the 3x3 conv to RGB
# 6,915; D at 32 is 151,680 + 311,680 + 2 x 295,168 (no shortcut conv) + 129.
# (mimicry's sngan_32: 4.3M and 1.1M.)
COUNTS = {32: (4_276_739, 1_053_825), 48: (4_878_083, 19_542_721),
          64: (12_220_675, 19_542_721)}


@pytest.mark.parametrize('size', sorted(COUNTS))
def test_parameter_counts_and_shapes(size):
  g = sngan.SNGANGenerator((size, size, 3))
  d = sngan.SNGANDiscriminator((size, size, 3))
  z = jnp.zeros((2, 128))
  x = jnp.zeros((2, size, size, 3))
  g_vars = jax.eval_shape(functools.partial(g.init, train=False),
                          jax.random.key(0), z)
  d_vars = jax.eval_shape(functools.partial(d.init, train=False),
                          jax.random.key(0), x)
  assert (networks.count_parameters(g_vars['params']),
          networks.count_parameters(d_vars['params'])) == COUNTS[size]
  assert jax.eval_shape(lambda v: g.apply(v, z, train=False),
                        g_vars).shape == (2, size, size, 3)
  assert jax.eval_shape(lambda v: d.apply(v, x), d_vars).shape == (2,)


def test_blocks_keep_identity_shortcuts_where_the_paper_does():
  d = sngan.SNGANDiscriminator((32, 32, 3))
  params = jax.eval_shape(d.init, jax.random.key(0),
                          jnp.zeros((1, 32, 32, 3)))['params']
  shortcuts = [name for name in sorted(params)
               if 'shortcut' in params[name]]
  # Blocks 0 (optimized) and 1 (down) learn theirs; 2 and 3 are identities.
  assert shortcuts == ['DiscriminatorBlock_0', 'DiscriminatorBlock_1']
  with pytest.raises(ValueError, match='32, 48, 64'):
    sngan.architecture((28, 28, 1))


def test_league_configs():
  c = sngan_config.get_config()
  assert (c.loss.name, c.model.spectral_norm, c.train.n_critic,
          c.train.lr_decay, c.train.num_steps) == ('hinge', True, 5, 'linear',
                                                   100_000)
  assert c.train.g_optimizer.b1 == 0.0 and c.train.g_optimizer.b2 == 0.9
  w = sngan_config.get_config('wgan_gp')
  assert (w.loss.name, w.loss.penalty, w.model.spectral_norm) == (
      'wasserstein', 'gradient_penalty', False)
  p = sngan_config.get_config('projection,cpu')
  assert p.model.conditioning == 'projection' and p.train.num_steps == 2000
  assert p.data.labels_from_subfolders
  with pytest.raises(errors.ConfigError, match='one of'):
    sngan_config.get_config('sngan,wgan_gp')


def test_linear_decay_reaches_zero_at_the_last_step():
  config = sngan_config.get_config()
  config.train.num_steps = 10
  gan = gan_family.GAN(config, (32, 32, 3))
  params = {'w': jnp.zeros(3)}
  grads = {'w': jnp.ones(3)}
  for tx, per_step in ((gan.g_tx, 1), (gan.d_tx, 5)):
    state = tx.init(params)
    sizes = []
    for _ in range(10 * per_step + 1):
      updates, state = tx.update(grads, state, params)
      sizes.append(float(jnp.abs(updates['w'][0])))
    # Adam on a constant gradient moves by the learning rate itself.
    np.testing.assert_allclose(sizes[0], 2e-4, rtol=1e-3)
    np.testing.assert_allclose(sizes[5 * per_step], 1e-4, rtol=1e-3)
    assert sizes[-1] == 0.0
  config.train.lr_decay = 'cosine'
  with pytest.raises(errors.ConfigError, match='lr_decay'):
    gan_family.GAN(config, (32, 32, 3))


def test_sngan_iteration_traces_with_spectral_norm_and_projection():
  # Traced, not compiled (the 32x32 ResNets take most of a minute to
  # compile on 2 cores): the whole iteration's shapes, and the projection's
  # embedding normalised with the rest.
  config = sngan_config.get_config('projection')
  config.train.batch_size = 4
  config.model.num_classes = 10
  gan = gan_family.GAN(config, (32, 32, 3))
  state = jax.eval_shape(gan.init, jax.random.key(0))
  assert 'class_embedding/kernel' in state.d_state['spectral']
  batches = jax.ShapeDtypeStruct((5, 4, 32, 32, 3), jnp.uint8)
  labels = jax.ShapeDtypeStruct((5, 4), jnp.int32)
  new, metrics = jax.eval_shape(gan.iteration, state, batches, labels)
  assert jax.tree.map(lambda a: (a.shape, a.dtype), new) == jax.tree.map(
      lambda a: (a.shape, a.dtype), state)
  assert {'d_loss', 'g_loss', 'd_real_acc', 'diversity'} <= set(metrics)
