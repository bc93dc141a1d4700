"""SRResNet and the SRGAN discriminator (Ledig et al. 2017, Fig. 4).

`SRResNet`: k9n64s1 + PReLU; a long skip around [B residual blocks (x +
[k3n64s1, BN, PReLU, k3n64s1, BN]), k3n64s1, BN]; per x2 of the scale, a
sub-pixel stage k3n256s1, pixel shuffle x2, PReLU (x3: one k3n576s1 and
shuffle x3); k9n3s1 with no output activation (the figure shows none). The
paper's LR inputs are in [0, 1] and its HR outputs in [-1, 1] (sec. 3.2):
the network takes the family's [-1, 1] source and maps it to [0, 1] first. PReLU slopes are per channel (He et al.'s PReLU; the paper does not
say), initialised at 0.25 as PyTorch's. Conv biases on. x4 with 16 blocks:
1,550,659 parameters, like `../shared/bench/torch_translation_bench.py`.

`SRGANDiscriminator`: k3n64s1 + LeakyReLU 0.2; seven [k3, BN, LeakyReLU 0.2]
(64 s2, 128 s1, 128 s2, 256 s1, 256 s2, 512 s1, 512 s2); dense 1024,
LeakyReLU 0.2, dense 1 (a logit). At 96x96 HR: 23,565,505 parameters (the
dense layer takes 512 x 6 x 6).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import layers
from jaxgan.networks import registry

SCALES = (2, 3, 4, 8)


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
  """(B, H, W, C r^2) -> (B, H r, W r, C), PyTorch's PixelShuffle channel
  order: output (h r + i, w r + j, c) is input channel c r^2 + i r + j (Shi
  et al. 2016's sub-pixel convolution), so ported weights keep their
  meaning."""
  b, h, w, c = x.shape
  x = x.reshape(b, h, w, c // (r * r), r, r)
  return x.transpose(0, 1, 4, 2, 5, 3).reshape(b, h * r, w * r, c // (r * r))


def upsampling_factors(scale: int) -> list[int]:
  """The sub-pixel stages of a scale: x4 -> [2, 2], x3 -> [3], x8 -> [2]*3."""
  if scale not in SCALES:
    raise errors.ConfigError(f'super-resolution scale {scale}: use one of '
                             f'{SCALES}')
  return [3] if scale == 3 else [2] * (scale.bit_length() - 1)


class PReLU(nn.Module):
  """max(0, x) + a min(0, x), one learned slope per channel (init 0.25)."""

  @nn.compact
  def __call__(self, x):
    a = self.param('alpha', nn.initializers.constant(0.25), (x.shape[-1],))
    return jnp.where(x >= 0, x, a.astype(x.dtype) * x)


def _conv(features, k, impl, dtype, name, stride=1, use_bias=True):
  # PyTorch's default init (Kaiming uniform, a = sqrt(5)) is the paper's
  # implementations' and the reference's; its variance is 1/3 of fan-in's.
  return layers.PatchConv(features, kernel_size=k, padding=k // 2,
                          stride=stride, use_bias=use_bias,
                          kernel_init=nn.initializers.variance_scaling(
                              1 / 3, 'fan_in', 'uniform'),
                          impl=impl, dtype=dtype, name=name)


class SRResNet(nn.Module):
  """(B, h, w, C) LR in [-1, 1] -> (B, h s, w s, C) HR in about [-1, 1]."""
  scale: int = 4
  num_blocks: int = 16
  features: int = 64
  out_channels: int = 3
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    c, impl, dtype = self.features, self.impl, self.dtype

    def bn(name):
      return layers.batch_norm(train, self.axis_name, dtype, name=name)

    x = (x.astype(dtype) + 1) / 2  # The paper's LR range, [0, 1].
    h = PReLU(name='prelu_in')(_conv(c, 9, impl, dtype, 'conv_in')(x))
    skip = h
    for i in range(self.num_blocks):
      r = _conv(c, 3, impl, dtype, f'block_{i}_conv_0')(h)
      r = PReLU(name=f'block_{i}_prelu')(bn(f'block_{i}_bn_0')(r))
      r = bn(f'block_{i}_bn_1')(_conv(c, 3, impl, dtype,
                                      f'block_{i}_conv_1')(r))
      h = h + r
    h = skip + bn('bn_mid')(_conv(c, 3, impl, dtype, 'conv_mid')(h))
    for i, r in enumerate(upsampling_factors(self.scale)):
      h = _conv(c * r * r, 3, impl, dtype, f'up_{i}_conv')(h)
      h = PReLU(name=f'up_{i}_prelu')(pixel_shuffle(h, r))
    y = _conv(self.out_channels, 9, impl, dtype, 'conv_out')(h)
    return y.astype(jnp.float32)


class SRGANDiscriminator(nn.Module):
  """(B, H, W, C) HR in [-1, 1] -> (B,) logits; H and W multiples of 16."""
  features: int = 64
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    if x.shape[1] % 16 or x.shape[2] % 16:
      raise ValueError(f'the SRGAN discriminator takes sides that are '
                       f'multiples of 16, not {x.shape[1]}x{x.shape[2]}')
    c, impl, dtype = self.features, self.impl, self.dtype
    h = nn.leaky_relu(_conv(c, 3, impl, dtype, 'conv_0')(x.astype(dtype)),
                      0.2)
    for i, (mult, stride) in enumerate(((1, 2), (2, 1), (2, 2), (4, 1),
                                        (4, 2), (8, 1), (8, 2)), start=1):
      h = _conv(mult * c, 3, impl, dtype, f'conv_{i}', stride=stride)(h)
      h = layers.batch_norm(train, self.axis_name, dtype, name=f'bn_{i}')(h)
      h = nn.leaky_relu(h, 0.2)
    # PyTorch flattens (C, H, W); the dense layer's rows follow that order.
    h = h.transpose(0, 3, 1, 2).reshape(h.shape[0], -1)
    dense_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')
    h = nn.leaky_relu(nn.Dense(1024, kernel_init=dense_init, dtype=dtype,
                               name='dense_0')(h), 0.2)
    y = nn.Dense(1, kernel_init=dense_init, dtype=dtype, name='dense_1')(h)
    return y[:, 0].astype(jnp.float32)


def check(config, spec):
  """SRResNet maps h x w to (h s) x (w s), s = config.data.scale."""
  scale = config.data.scale
  upsampling_factors(scale)
  (h, w), (big_h, big_w) = spec['source'][:2], spec['target'][:2]
  if (h * scale, w * scale) != (big_h, big_w):
    raise errors.ConfigError(
        f'SRResNet x{scale} makes {h * scale}x{w * scale} from {h}x{w}, the '
        f'targets are {big_h}x{big_w}: it is for config.data.name='
        "'super_resolution'")


def check_discriminator(config, spec):
  crop = spec['target'][0]
  if crop % 16:
    raise errors.ConfigError(
        f'the SRGAN discriminator halves its input four times: '
        f'config.data.crop_size={crop} must be a multiple of 16 (e.g. 96)')


@registry.register('generator', 'srresnet', check=check)
def build_srresnet(config, spec, axis_name=None):
  """SRResNet for `config.data.scale` (`config.model`: num_blocks,
  g_features, conv_impl)."""
  m = config.model
  return SRResNet(scale=config.data.scale, num_blocks=m.num_blocks,
                  features=m.g_features, out_channels=spec['target'][-1],
                  axis_name=axis_name,
                  impl=layers.resolve_conv_impl(m.conv_impl),
                  dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'srgan', check=check_discriminator)
def build_srgan_discriminator(config, spec, axis_name=None):
  del spec
  m = config.model
  return SRGANDiscriminator(features=m.d_features, axis_name=axis_name,
                            impl=layers.resolve_conv_impl(m.conv_impl),
                            dtype=jnp.dtype(config.dtype))


# --- ESRGAN's generator (Wang et al. 2018, sec. 3.1, Fig. 3-4) --------------


def _esrgan_init(key, shape, dtype=jnp.float32):
  """Kaiming-normal kernels scaled by 0.1: ESRGAN's initialisation of the
  residual-in-residual blocks, which makes the deep network train (sec. 3.1,
  "smaller initialisation")."""
  return 0.1 * nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')(
      key, shape, dtype)


class RRDBNet(nn.Module):
  """(B, h, w, C) LR in [-1, 1] -> (B, h s, w s, C) in about [-1, 1].

  conv 3x3; `num_blocks` residual-in-residual dense blocks (RRDB: three
  dense blocks of five 3x3 convolutions, growth `growth`, LeakyReLU 0.2
  after the first four, each dense block's output and the RRDB's scaled by
  0.2 before their skips), no BatchNorm anywhere; a trunk conv and the long
  skip; per x2 nearest-neighbour upsampling + conv + LeakyReLU (x3: one x3);
  conv + LeakyReLU; conv to the output. ESRGAN works on [0, 1] images: the
  network maps the family's [-1, 1] in and out. 23 blocks, 64 channels,
  growth 32: 16,697,987 parameters, as the authors' RRDBNet.
  """
  scale: int = 4
  num_blocks: int = 23
  features: int = 64
  growth: int = 32
  out_channels: int = 3
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no BatchNorm, no dropout
    impl, dtype, c = self.impl, self.dtype, self.features

    def conv(features, name):
      return layers.PatchConv(features, kernel_size=3, padding=1,
                              kernel_init=_esrgan_init, impl=impl,
                              dtype=dtype, name=name)

    def lrelu(h):
      return nn.leaky_relu(h, 0.2)

    x = (x.astype(dtype) + 1) / 2
    fea = conv(c, 'conv_first')(x)
    h = fea
    for b in range(self.num_blocks):
      rrdb_in = h
      for d in range(3):
        dense_in, grown = h, [h]
        for i in range(4):
          grown.append(lrelu(conv(self.growth, f'rrdb_{b}_{d}_conv{i}')(
              jnp.concatenate(grown, -1))))
        h = dense_in + 0.2 * conv(c, f'rrdb_{b}_{d}_conv4')(
            jnp.concatenate(grown, -1))
      h = rrdb_in + 0.2 * h
    h = fea + conv(c, 'trunk_conv')(h)
    for i, r in enumerate(upsampling_factors(self.scale)):
      h = jnp.repeat(jnp.repeat(h, r, 1), r, 2)
      h = lrelu(conv(c, f'up_{i}_conv')(h))
    h = lrelu(conv(c, 'hr_conv')(h))
    y = conv(self.out_channels, 'conv_last')(h)
    return (2 * y - 1).astype(jnp.float32)


@registry.register('generator', 'rrdb', check=check)
def build_rrdb(config, spec, axis_name=None):
  """ESRGAN's RRDBNet for `config.data.scale` (`config.model`: num_blocks,
  g_features, rrdb_growth, conv_impl)."""
  del axis_name
  m = config.model
  return RRDBNet(scale=config.data.scale, num_blocks=m.num_blocks,
                 features=m.g_features, growth=m.rrdb_growth,
                 out_channels=spec['target'][-1],
                 impl=layers.resolve_conv_impl(m.conv_impl),
                 dtype=jnp.dtype(config.dtype))
