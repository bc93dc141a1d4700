"""Model output shapes and ranges at every size the issue names."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan, gan_mlp, wgan_gp
from jaxgan import losses
from jaxgan.networks import layers
from jaxgan.families import gan as gan_family

SIZES = [(28, 28), (32, 32), (64, 64), (100, 100), (112, 92)]


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('channels', [1, 3])
def test_dcgan_shapes_and_ranges(size, channels):
  config = dcgan.get_config()
  config.model.g_features = 4
  config.model.d_features = 4
  shape = size + (channels,)
  g, d = gan_family.create_models(config, shape)
  z = jax.random.normal(jax.random.key(0), (3, config.model.latent_dim)) * 50
  # Compiled: op-by-op dispatch of the many small ops is the slow part.
  g_vars = jax.jit(functools.partial(g.init, train=False))(
      jax.random.key(1), z)
  images, _ = jax.jit(functools.partial(g.apply, train=True,
                                        mutable=['batch_stats']))(g_vars, z)
  assert images.shape == (3,) + shape
  assert float(jnp.min(images)) >= -1 and float(jnp.max(images)) <= 1
  d_vars = jax.jit(functools.partial(d.init, train=False))(
      jax.random.key(2), images)
  scores, _ = jax.jit(functools.partial(d.apply, train=True,
                                        mutable=['batch_stats']))(d_vars,
                                                                  images)
  assert scores.shape == (3,)
  assert np.all(np.isfinite(scores))


@pytest.mark.parametrize('size', SIZES)
def test_mlp_shapes(size):
  config = gan_mlp.get_config()
  g, d = gan_family.create_models(config, size + (1,))
  z = jnp.ones((2, config.model.latent_dim))
  g_vars = g.init(jax.random.key(0), z, train=False)
  images = g.apply(g_vars, z, train=False)
  assert images.shape == (2,) + size + (1,)
  assert float(jnp.max(jnp.abs(images))) <= 1
  d_vars = d.init(jax.random.key(1), images)
  assert d.apply(d_vars, images).shape == (2,)


def test_mixture_generator_is_unbounded():
  config = gan_mlp.get_config('grid25')
  g, _ = gan_family.create_models(config, (2,))
  z = jnp.ones((2, config.model.latent_dim))
  variables = g.init(jax.random.key(0), z)
  variables = jax.tree.map(lambda p: p * 20.0, variables)
  points = g.apply(variables, z)
  assert points.shape == (2, 2) and float(jnp.max(jnp.abs(points))) > 1.0


def test_critic_has_no_batchnorm_and_is_per_example():
  config = wgan_gp.get_config()
  config.model.d_features = 4
  _, critic = gan_family.create_models(config, (32, 32, 3))
  x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
  variables = critic.init(jax.random.key(1), x)
  assert set(variables) == {'params'}
  # Example 0's score does not depend on the rest of the batch.
  alone = critic.apply(variables, x[:1])
  together = critic.apply(variables, x)
  np.testing.assert_allclose(alone[0], together[0], rtol=1e-5)


@pytest.mark.parametrize('norm', ['layer', 'none'])
def test_critic_norm_choices(norm):
  config = wgan_gp.get_config()
  config.model.d_norm = norm
  _, critic = gan_family.create_models(config, (28, 28, 1))
  variables = critic.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
  names = str(jax.tree_util.tree_structure(variables['params']))
  assert ('GroupNorm' in names) == (norm == 'layer')


def test_unconditional_models_refuse_labels():
  config = dcgan.get_config()
  g, _ = gan_family.create_models(config, (28, 28, 1))
  z = jnp.ones((2, 100))
  with pytest.raises(ValueError, match='unconditional'):
    g.init(jax.random.key(0), z, labels=jnp.zeros(2, jnp.int32))


def test_stage_sizes():
  assert layers.image_stage_sizes(28, 28) == [(7, 7), (14, 14), (28, 28)]
  assert layers.image_stage_sizes(64, 64)[0] == (4, 4)
  assert [h for h, _ in layers.image_stage_sizes(100, 100)] == [7, 13, 25, 50,
                                                                100]
  assert layers.image_stage_sizes(112, 92)[-1] == (112, 92)


@pytest.mark.parametrize('impl', ['conv', 'matmul'])
@pytest.mark.parametrize('features', [3, 32])  # matmul: col2im and phases
def test_upconv_equals_the_transposed_convolution(impl, features):
  x = jax.random.normal(jax.random.key(0), (2, 5, 7, 6))
  up = layers.UpConv(features, impl=impl)
  params = up.init(jax.random.key(1), x)
  reference = nn.ConvTranspose(features, (4, 4), strides=(2, 2),
                               padding=((2, 2), (2, 2)), use_bias=False)
  want = reference.apply(params, x)
  got = up.apply(params, x)
  assert got.shape == (2, 10, 14, features)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('features', [3, 32])
def test_upconv_gradients_equal_the_transposed_convolutions(features):
  # features 32: the hand-written backward pass of the wide 'matmul' form.
  x = jax.random.normal(jax.random.key(0), (2, 5, 7, 6))
  up = layers.UpConv(features, impl='matmul')
  params = up.init(jax.random.key(1), x)
  reference = nn.ConvTranspose(features, (4, 4), strides=(2, 2),
                               padding=((2, 2), (2, 2)), use_bias=False)
  target = jax.random.normal(jax.random.key(2), (2, 10, 14, features))

  def loss(module):
    return lambda p, x: jnp.sum((module.apply(p, x) - target) ** 2)

  want = jax.grad(loss(reference), argnums=(0, 1))(params, x)
  got = jax.jit(jax.grad(loss(up), argnums=(0, 1)))(params, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-4), got, want)
  # In bfloat16 compute the gradients come back in the parameters' float32.
  up16 = layers.UpConv(features, impl='matmul', dtype=jnp.bfloat16)
  got16 = jax.jit(jax.grad(loss(up16), argnums=(0, 1)))(params, x)
  for a, b in zip(jax.tree.leaves(got16), jax.tree.leaves(want)):
    assert a.dtype == jnp.float32
    assert np.abs(a - b).max() < 0.05 * np.abs(b).max()


@pytest.mark.parametrize('impl', ['conv', 'matmul'])
@pytest.mark.parametrize('size,channels', [((8, 8), 3), ((7, 13), 3),
                                           ((16, 18), 32), ((17, 16), 32),
                                           ((16, 16), 64)])
def test_downconv_equals_the_strided_convolution(impl, size, channels):
  # matmul: im2col, space-to-depth cells for wide even maps from 16 up, and
  # XLA's convolution from 64 channels on maps up to 16.
  x = jax.random.normal(jax.random.key(0), (2, *size, channels))
  down = layers.DownConv(5, use_bias=True, impl=impl)
  params = down.init(jax.random.key(1), x)
  params = jax.tree.map(lambda p: p + 0.1, params)  # a non-zero bias
  reference = nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
  want = reference.apply(params, x)
  got = down.apply(params, x)
  assert got.shape == want.shape == (2, size[0] // 2, size[1] // 2, 5)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('size', [(8, 8), (7, 9), (5, 6)])
def test_xla_downconv_gradients_equal_autodiffs_to_second_order(size):
  # The matmul form's XLA branch writes its own gradients (see
  # `_down_conv_xla_cpu`); odd sizes have rows no window reaches.
  x = jax.random.normal(jax.random.key(0), (3, *size, 4))
  k = jax.random.normal(jax.random.key(1), (4, 4, 4, 6))
  w = jax.random.normal(jax.random.key(2),
                        (3, size[0] // 2, size[1] // 2, 6))

  def grads(conv):
    return jax.grad(lambda x, k: jnp.sum(jnp.sin(conv(x, k)) * w),
                    argnums=(0, 1))(x, k)

  def penalty_grad(conv):
    def penalty(k):
      g = jax.grad(lambda x: jnp.sum(jnp.sin(conv(x, k)) * w))(x)
      return jnp.sum(g ** 2)
    return jax.grad(penalty)(k)

  for got, want in zip(grads(layers._down_conv_xla_cpu),  # pylint: disable=protected-access
                       grads(layers._down_conv_xla)):  # pylint: disable=protected-access
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(penalty_grad(layers._down_conv_xla_cpu),  # pylint: disable=protected-access
                             penalty_grad(layers._down_conv_xla),  # pylint: disable=protected-access
                             rtol=1e-4, atol=1e-3)


def test_xla_downconv_gradients_inside_a_scan_are_eigen_convolutions():
  # XLA:CPU runs a convolution in its Eigen kernels only in the NHWC/HWIO
  # form (dim_labels b01f_01io->b01f); autodiff's kernel gradient inside a
  # loop body stayed in another form and ran 20-40x slower.
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 64))
  down = layers.DownConv(32, impl='matmul')
  params = down.init(jax.random.key(1), x)

  def body(p, x):
    g = jax.grad(lambda p: jnp.sum(down.apply(p, x) ** 2))(p)
    return jax.tree.map(lambda a, b: a - 1e-3 * b, p, g), None

  hlo = jax.jit(lambda p, xs: jax.lax.scan(body, p, xs)[0]).lower(
      params, jnp.stack([x, x])).compile().as_text()
  convs = [line for line in hlo.splitlines() if ' convolution(' in line]
  assert len(convs) >= 2  # The forward and the kernel gradient.
  for line in convs:
    assert 'dim_labels=b01f_01io->b01f' in line, line


def test_conv_impls_agree_on_penalty_gradients():
  """The WGAN-GP parameter gradient (a second derivative) matches too."""
  config = wgan_gp.get_config()
  config.model.d_features = 32  # 32 x 16 x 16 into the second layer
  grads = {}
  for impl in ('conv', 'matmul', 'matmul_s2d'):
    config.model.conv_impl = impl.removesuffix('_s2d')
    _, critic = gan_family.create_models(config, (32, 32, 3))
    assert critic.double_backward
    if impl == 'matmul_s2d':  # Off for penalties (slower), but also right.
      critic = critic.clone(double_backward=False)
    real = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    fake = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    params = critic.init(jax.random.key(2), real)['params']

    def penalty(params, critic=critic, real=real, fake=fake):
      fn = lambda x: critic.apply({'params': params}, x)
      return losses.gradient_penalty(fn, real, fake, jnp.full((4,), 0.3))

    grads[impl] = jax.grad(penalty)(params)
  for impl in ('matmul', 'matmul_s2d'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                         atol=1e-6),
                 grads['conv'], grads[impl])


def test_conv_impl_auto_and_unknown():
  assert layers.resolve_conv_impl('auto') == (
      'tuned' if jax.default_backend() == 'cpu' else 'conv')
  with pytest.raises(ValueError, match='conv_impl'):
    layers.resolve_conv_impl('winograd')


@pytest.mark.parametrize('upsample', layers.UPSAMPLES)
def test_dcgan_generator_upsampling_choices(upsample):
  config = dcgan.get_config()
  config.model.g_features = 4
  config.model.upsample = upsample
  g, _ = gan_family.create_models(config, (28, 28, 1))
  z = jax.random.normal(jax.random.key(0), (2, config.model.latent_dim))
  g_vars = jax.jit(functools.partial(g.init, train=False))(
      jax.random.key(1), z)
  images = jax.jit(functools.partial(g.apply, train=False))(g_vars, z)
  assert images.shape == (2, 28, 28, 1)
  kernels = [v.shape for v in jax.tree.leaves(g_vars['params']) if v.ndim == 4]
  # Two doublings (7 -> 14 -> 28): 4x4 transposed kernels, or 3x3 after a
  # resize.
  size = 4 if upsample == 'transposed' else 3
  assert [k[:2] for k in kernels] == [(size, size)] * 2


def test_upsample_option_is_checked():
  config = dcgan.get_config()
  config.model.upsample = 'pixel_shuffle'
  with pytest.raises(Exception, match='upsample'):
    gan_family.validate_config(config)
  config = gan_mlp.get_config()
  config.model.upsample = 'nearest'
  with pytest.raises(Exception, match="not the 'mlp' generator"):
    gan_family.validate_config(config)


def test_power_spectrum_sees_a_checkerboard():
  from jaxgan import metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  smooth = rng.normal(size=(64, 16, 16)).cumsum(1).cumsum(2)
  checker = np.indices((16, 16)).sum(0) % 2 * 2.0 - 1
  spectrum = metrics.power_spectrum(smooth)
  assert spectrum.shape == (16, 16)
  np.testing.assert_allclose(spectrum[0, 0], 0, atol=1e-9)  # Mean removed.
  # Parseval: the mean power equals H * W times the pixels' variance.
  x = smooth - smooth.mean(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(spectrum.sum(), 256 * np.sum(x**2) / 64,
                             rtol=1e-9)
  assert metrics.checkerboard_ratio(spectrum) < 3
  with_checker = metrics.power_spectrum(smooth + 3 * checker)
  assert metrics.checkerboard_ratio(with_checker) > 100
