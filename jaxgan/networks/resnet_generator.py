"""The ResNet generator (Johnson et al. 2016, as Isola, Zhu et al.'s
`ResnetGenerator` in their translation code, `--netG resnet_9blocks`).

c7s1-64 (reflection padding 3, 7x7 convolution, norm, ReLU), d128 and d256
(3x3 stride-2 convolutions with padding 1, norm, ReLU), `num_blocks`
residual blocks of 256 channels (x + [reflection pad 1, 3x3, norm, ReLU,
(dropout 0.5), reflection pad 1, 3x3, norm]), u128 and u64 (3x3 stride-2
transposed convolutions, padding 1, output padding 1, norm, ReLU), then
reflection padding 3, a 7x7 convolution to the output channels and tanh.
Convolutions carry biases where the norm is instance norm (the authors'
use_bias), and the last one always. `resnet_9blocks` (256x256) has
11,378,179 parameters for 3 -> 3 channels and `resnet_6blocks` (128x128)
7,837,699, as the reference.

The transposed convolutions are PyTorch's ConvTranspose2d(3, 2, 1, 1) with
the kernel stored (3, 3, in, out) (`layers.UpConv3`, with its CPU forms).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import layers
from jaxgan.networks import registry

# name -> residual blocks.
RESNETS = {'resnet_9blocks': 9, 'resnet_6blocks': 6}


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
  """PyTorch's ReflectionPad2d(p) on NHWC: the edge row is not repeated."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode='reflect')


def _conv(features, k, stride, use_bias, impl, dtype, name, padding=0):
  return layers.PatchConv(features, kernel_size=k, padding=padding,
                          stride=stride, use_bias=use_bias,
                          kernel_init=layers.dcgan_init, impl=impl,
                          dtype=dtype, name=name)


class ResnetGenerator(nn.Module):
  """(B, H, W, in) -> (B, H, W, out_channels) in [-1, 1]; H and W multiples
  of 4 (two stride-2 halvings and their doublings)."""
  out_channels: int = 3
  num_blocks: int = 9
  features: int = 64
  norm: str = 'instance'
  dropout: bool = False
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @property
  def num_downs(self) -> int:
    """Two stride-2 halvings: input sides must be multiples of 2^2."""
    return 2

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm == 'instance'
    f, impl, dtype = self.features, self.impl, self.dtype

    def norm(h, name):
      return layers.norm(self.norm, train, self.axis_name, dtype,
                         name=name)(h)

    h = _conv(f, 7, 1, bias, impl, dtype, 'conv_in')(reflect_pad(x, 3))
    h = nn.relu(norm(h, 'norm_in'))
    for i, mult in enumerate((2, 4)):
      h = _conv(f * mult, 3, 2, bias, impl, dtype, f'down_{i}',
                padding=1)(h)
      h = nn.relu(norm(h, f'down_{i}_norm'))
    for i in range(self.num_blocks):
      r = _conv(4 * f, 3, 1, bias, impl, dtype, f'block_{i}_conv_0')(
          reflect_pad(h, 1))
      r = nn.relu(norm(r, f'block_{i}_norm_0'))
      if self.dropout:
        r = nn.Dropout(0.5, deterministic=not train)(r)
      r = _conv(4 * f, 3, 1, bias, impl, dtype, f'block_{i}_conv_1')(
          reflect_pad(r, 1))
      h = h + norm(r, f'block_{i}_norm_1')
    for i, mult in enumerate((2, 1)):
      h = layers.UpConv3(f * mult, bias, layers.dcgan_init, impl, dtype,
                         name=f'up_{i}')(h)
      h = nn.relu(norm(h, f'up_{i}_norm'))
    h = _conv(self.out_channels, 7, 1, True, impl, dtype, 'conv_out')(
        reflect_pad(h, 3))
    return jnp.tanh(h.astype(jnp.float32))


def check(config, spec):
  del config
  height, width = spec['source'][:2]
  if height % 4 or width % 4 or min(height, width) < 8:
    raise errors.ConfigError(
        f'a ResNet generator takes images whose sides are multiples of 4 '
        f'(at least 8; reflection padding 3 needs 4 pixels), not '
        f'{height}x{width}: change config.data.crop_size')


@registry.register('generator', *RESNETS, check=check)
def build(config, spec, axis_name=None):
  """The ResNet generator of `config.model.generator` (`config.model`:
  g_features, norm, dropout, conv_impl)."""
  m = config.model
  return ResnetGenerator(
      out_channels=spec['target'][-1], num_blocks=RESNETS[m.generator],
      features=m.g_features, norm=m.norm, dropout=m.dropout,
      axis_name=axis_name, impl=layers.resolve_conv_impl(m.conv_impl),
      dtype=jnp.dtype(config.dtype))
