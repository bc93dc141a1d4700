"""The context encoder (Pathak et al. 2016, sec. 3.1-3.2, 5.1).

The authors' code (`train.lua`, netG / netD), not the paper's channel-wise
fully connected layer: its 4000-channel convolutional bottleneck (the 4x4
'valid' convolution to 4000 x 1 x 1), which is what they trained and
released. At 128x128 with the 64x64 centre patch:

  G  encoder C64 (no BatchNorm), C64, C128, C256, C512 (4x4 stride 2,
     LeakyReLU 0.2), 4x4 valid conv to 4000 (BatchNorm, LeakyReLU); decoder
     4x4 transposed conv 1 -> 4x4x512, then stride-2 ones to 256, 128, 64
     (BatchNorm, ReLU) and to the 3-channel patch (tanh). 71,124,544
     parameters, as `../shared/bench/torch_translation_bench.py`.
  D  on the patch alone: C64 (no BatchNorm), C128, C256, C512, 4x4 valid
     conv to one logit. 2,765,568 parameters, as the same reference.

No convolution has a bias (train.lua zeroes them before every update). Other
sizes keep the pattern: the encoder halves the image to 4x4 (channels
64 * min(2^(i-1), 8) for layer i >= 1), the decoder doubles from 4x4 to the
patch side (`patch`: the centre half, or the whole image for the random
masks and where the overlap border does not fit in the centre half: the
family gives it as `spec['patch']`), and D halves the patch to 4x4.
The 4x4 valid convolutions on a 4x4 map (and the transposed one from 1x1)
are dense layers over the flattened map: the same linear maps and
parameters.
"""

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import layers
from jaxgan.networks import registry


def _halvings(size: int, what: str) -> int:
  n = int(math.log2(size)) - 2 if size >= 8 else 0
  if size < 8 or 4 * 2 ** n != size:
    raise errors.ConfigError(
        f'the context encoder halves the {what} to 4x4: its side {size} must '
        'be a power of 2, 8 or more (e.g. config.data.crop_size=32, 64 or '
        '128)')
  return n


def encoder_features(size: int, features: int = 64) -> list[int]:
  """Channels of the encoder's stride-2 layers: 64, 64, 128, 256, 512 at
  128x128."""
  return [features * min(2 ** max(i - 1, 0), 8)
          for i in range(_halvings(size, 'image'))]


class ContextEncoder(nn.Module):
  """(B, S, S, C) masked image in [-1, 1] -> (B, P, P, C) patch in [-1, 1]."""
  patch: int
  out_channels: int = 3
  features: int = 64  # nef = ngf
  bottleneck: int = 4000
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    bn = lambda name: layers.batch_norm(train, self.axis_name, self.dtype,  # pylint: disable=g-long-lambda
                                        name=name)
    h = x.astype(self.dtype)
    for i, width in enumerate(encoder_features(x.shape[1], self.features)):
      h = layers.DownConv(width, impl=self.impl, dtype=self.dtype,
                          name=f'enc_{i}')(h)
      if i:
        h = bn(f'enc_bn_{i}')(h)
      h = nn.leaky_relu(h, 0.2)
    h = nn.Dense(self.bottleneck, use_bias=False,
                 kernel_init=layers.dcgan_init, dtype=self.dtype,
                 name='bottleneck')(h.reshape((h.shape[0], -1)))
    h = nn.leaky_relu(bn('bottleneck_bn')(h), 0.2)
    num_up = _halvings(self.patch, 'patch')
    widths = [self.features * min(2 ** (num_up - 1 - j), 8)
              for j in range(num_up)]
    h = nn.Dense(16 * widths[0], use_bias=False,
                 kernel_init=layers.dcgan_init, dtype=self.dtype,
                 name='dec_0')(h).reshape((h.shape[0], 4, 4, widths[0]))
    h = nn.relu(bn('dec_bn_0')(h))
    for j, width in enumerate(widths[1:] + [self.out_channels], start=1):
      h = layers.UpConv(width, impl=self.impl, dtype=self.dtype,
                        name=f'dec_{j}')(h)
      if j < num_up:
        h = nn.relu(bn(f'dec_bn_{j}')(h))
    return jnp.tanh(h.astype(jnp.float32))


class ContextDiscriminator(nn.Module):
  """(B, P, P, C) patch -> (B,) logits (train.lua's netD, BCE on them)."""
  features: int = 64
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    h = x.astype(self.dtype)
    for i in range(_halvings(x.shape[1], 'patch')):
      h = layers.DownConv(self.features * min(2 ** i, 8), impl=self.impl,
                          dtype=self.dtype, name=f'conv_{i}')(h)
      if i:
        h = layers.batch_norm(train, self.axis_name, self.dtype,
                              name=f'bn_{i}')(h)
      h = nn.leaky_relu(h, 0.2)
    h = nn.Dense(1, use_bias=False, kernel_init=layers.dcgan_init,
                 dtype=self.dtype, name='logit')(h.reshape((h.shape[0], -1)))
    return h[:, 0].astype(jnp.float32)


def _patch(spec) -> int:
  """The predicted patch's side, which the family gives in the spec."""
  return spec.get('patch', spec['target'][0])


def _check(config, spec):
  del config
  size = spec['target'][0]
  _halvings(size, 'image')
  _halvings(_patch(spec), 'patch')


@registry.register('generator', 'context_encoder', check=_check)
def build_generator(config, spec, axis_name=None):
  m = config.model
  return ContextEncoder(
      patch=_patch(spec),
      out_channels=spec['target'][-1], features=m.g_features,
      bottleneck=m.bottleneck, axis_name=axis_name,
      impl=layers.resolve_conv_impl(m.conv_impl),
      dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'context_encoder', check=_check)
def build_discriminator(config, spec, axis_name=None):
  del spec
  m = config.model
  return ContextDiscriminator(features=m.d_features, axis_name=axis_name,
                              impl=layers.resolve_conv_impl(m.conv_impl),
                              dtype=jnp.dtype(config.dtype))
