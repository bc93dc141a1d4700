"""pix2pix's U-Net generator (Isola et al. 2017, sec. 3.2.1 and App. 6.1.1).

As the authors' `UnetGenerator` (`--netG unet_256`, `--norm batch`): each of
`num_downs` levels halves the map with a 4x4 stride-2 convolution
(LeakyReLU 0.2 before it, BatchNorm after it, but neither at the outermost
level and no BatchNorm at the innermost one), and the decoder doubles it back
with 4x4 stride-2 transposed convolutions (ReLU before, BatchNorm after,
tanh at the outermost), concatenating each level's input (its skip) with
what the levels below return. Channels: 64, 128, 256, then 512 to the
bottleneck; Dropout(0.5) after the decoder BatchNorm of the num_downs - 5
levels of 512 next to the innermost one (pix2pix's only noise, sec. 3.1).
No convolution bias where BatchNorm follows, nor on the outermost
downsampling (the authors' use_bias = norm is instance norm); the outermost
transposed convolution has one. `unet_256` has 54,413,955 parameters for
3 -> 3 channels, like the reference.

The authors' LeakyReLU works in place, so the skip a level concatenates is
its input after that LeakyReLU (the level rewrites its input before the
concatenation); this module does the same.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import layers
from jaxgan.networks import registry


def unet_depth(size: int) -> int:
  """unet_256 -> 8 levels: log2 of the image side, at least 5 (unet_32)."""
  depth = size.bit_length() - 1
  if size < 32 or size != 1 << depth:
    raise ValueError(f'a U-Net takes square images whose side is a power of '
                     f'2 and at least 32, not {size}')
  return depth


# The generator names: 'unet' takes its depth from the image size, 'unet_N'
# is the authors' fixed-size network for N x N images.
UNETS = ('unet', 'unet_32', 'unet_64', 'unet_128', 'unet_256', 'unet_512')


def generator_depth(name: str, size: int) -> int:
  """The levels of the U-Net called `name` (of UNETS) for size x size."""
  if name == 'unet':
    return unet_depth(size)
  return unet_depth(int(name.removeprefix('unet_')))


def level_channels(num_downs: int, features: int) -> list[int]:
  """Inner channels of each level, outermost first: 64, 128, 256, 512..."""
  return [features * min(2 ** i, 8) for i in range(num_downs)]


class UNetGenerator(nn.Module):
  """(B, H, W, in) -> (B, H, W, out_channels) in [-1, 1]; trained at
  H = W = 2 ** num_downs (unet_256: 8 levels), it takes any multiple of that
  (the bottleneck is then larger than 1x1: `jaxgan.translate` pads to it).

  `norm` 'batch' (pix2pix), 'instance' (affine-free, CycleGAN's option) or
  'none'. Dropout needs the 'dropout' rng when `train`.
  """
  out_channels: int = 3
  num_downs: int = 8
  features: int = 64
  norm: str = 'batch'
  dropout: float = 0.5
  axis_name: str | None = None
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    n = self.num_downs
    if n < 5:
      raise ValueError(f'num_downs={n}: a U-Net needs at least 5 levels')
    multiple = 2 ** n
    if x.shape[1] % multiple or x.shape[2] % multiple:
      raise ValueError(f'a U-Net of {n} levels takes sides that are '
                       f'multiples of {multiple}, not '
                       f'{x.shape[1]}x{x.shape[2]}')
    inner = level_channels(n, self.features)
    outer = [self.out_channels] + inner[:-1]
    bias = self.norm == 'instance'

    def norm(i, where):
      return layers.norm(self.norm, train, self.axis_name, self.dtype,
                         name=f'{where}_norm_{i}')

    # Encoder: level i maps its input (the skip) to inner[i] channels.
    skips = []
    h = layers.DownConv(inner[0], use_bias=False, impl=self.impl,
                        dtype=self.dtype, name='down_0')(x.astype(self.dtype))
    for i in range(1, n):
      h = nn.leaky_relu(h, 0.2)
      skips.append(h)  # The authors' in-place LeakyReLU: skip = lrelu(input).
      h = layers.DownConv(inner[i], use_bias=bias, impl=self.impl,
                          dtype=self.dtype, name=f'down_{i}')(h)
      if i < n - 1:
        h = norm(i, 'down')(h)
    # Decoder, innermost first; level i returns cat(skip_i, up_i).
    for i in range(n - 1, 0, -1):
      h = layers.UpConv(outer[i], use_bias=bias, impl=self.impl,
                        dtype=self.dtype, name=f'up_{i}')(nn.relu(h))
      h = norm(i, 'up')(h)
      if 4 <= i <= n - 2 and self.dropout:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    y = layers.UpConv(self.out_channels, use_bias=True, impl=self.impl,
                      dtype=self.dtype, name='up_0')(nn.relu(h))
    return jnp.tanh(y).astype(jnp.float32)


def check(config, spec):
  """A U-Net translates square images of its own size to the same size."""
  if tuple(spec['source'][:2]) != tuple(spec['target'][:2]):
    raise errors.ConfigError(
        f'a U-Net maps an image to one of the same size; the source is '
        f'{spec["source"][:2]} and the target {spec["target"][:2]} (for '
        "super-resolution use config.model.generator='srresnet')")
  size = spec['source'][0]
  if spec['source'][0] != spec['source'][1]:
    raise errors.ConfigError(
        f'the U-Net takes square inputs; the pairs are '
        f'{spec["source"][:2]}: set config.data.preprocess to '
        'resize_and_crop or scale_width_and_crop')
  try:
    depth = generator_depth(config.model.generator, size)
  except ValueError as e:
    raise errors.ConfigError(f'{e}: the pairs are {size}x{size}; choose '
                             'config.data.crop_size accordingly') from None
  if 2 ** depth != size:
    raise errors.ConfigError(
        f'config.model.generator={config.model.generator!r} takes '
        f'{2 ** depth}x{2 ** depth} inputs, the pairs are {size}x{size}: '
        "use generator='unet' (depth from the size)")


@registry.register('generator', *UNETS, check=check)
def build(config, spec, axis_name=None):
  """The U-Net of `config.model.generator` for `spec`'s source and target
  shapes (`config.model`: features, norm, dropout, conv_impl)."""
  m = config.model
  return UNetGenerator(
      out_channels=spec['target'][-1],
      num_downs=generator_depth(m.generator, spec['source'][0]),
      features=m.g_features, norm=m.norm, dropout=m.dropout,
      axis_name=axis_name, impl=layers.resolve_conv_impl(m.conv_impl),
      dtype=jnp.dtype(config.dtype))
