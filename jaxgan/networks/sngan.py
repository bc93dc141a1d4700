"""SNGAN's ResNet generator and discriminator (Miyato et al. 2018, appendix
B.4, Tables 4-6; the authors' Chainer code `sngan_projection`, and mimicry's
`sngan_32/48/64`), at 32x32 (CIFAR-10), 48x48 (STL-10) and 64x64.

  size  G: z(128) -> dense -> blocks up (channels)        D: blocks down ... -> sum pool
  32    4x4x256, 256, 256, 256                            128 (opt), 128, 128 (no down), 128 (no down)
  48    6x6x512, 256, 128, 64                             64 (opt), 128, 256, 512, 1024 (no down)
  64    4x4x1024, 512, 256, 128, 64                       64 (opt), 128, 256, 512, 1024

Generator block: BN, ReLU, nearest x2 upsampling (the paper's; mimicry
uses bilinear), 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsampling, 1x1
conv. The generator ends in BN, ReLU, 3x3 conv to the channels, tanh.
Discriminator block: ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pooling;
shortcut: 1x1 conv then pooling (only where the block downsamples or
changes width); the first ("optimized") block has no ReLU before its first
convolution and pools before its shortcut's conv. D ends in ReLU, a sum over
positions and a dense score (plus the projection term, `conditioning=
'projection'`, Miyato & Koyama 2018). Spectral normalisation is the model
option `config.model.spectral_norm` (networks/spectral_norm.py), applied
to every kernel here. Initialisation as the authors': Glorot uniform with
gain sqrt(2) in the residual branches, gain 1 in shortcuts and the ends.
A class-conditional generator gets the one-hot class beside z (the family's
conditioning), not the conditional BatchNorm of the projection paper.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.networks import layers
from jaxgan.networks import registry

# size -> (G's projection side, G's channels: projection then each block,
#          D's channels per block, D blocks that downsample)
ARCHITECTURES = {
    32: (4, (256, 256, 256, 256), (128, 128, 128, 128),
         (True, True, False, False)),
    48: (6, (512, 256, 128, 64), (64, 128, 256, 512, 1024),
         (True, True, True, True, False)),
    64: (4, (1024, 512, 256, 128, 64), (64, 128, 256, 512, 1024),
         (True, True, True, True, True)),
}

residual_init = nn.initializers.variance_scaling(2.0, 'fan_avg', 'uniform')
plain_init = nn.initializers.variance_scaling(1.0, 'fan_avg', 'uniform')


def architecture(image_shape):
  height, width = image_shape[:2]
  if height != width or height not in ARCHITECTURES:
    raise ValueError(
        f'SNGAN ResNets are defined at {sorted(ARCHITECTURES)} pixels '
        f'square, not {height}x{width}: set config.data.image_size to one '
        'of them.')
  return ARCHITECTURES[height]


def _upsample(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _downsample(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


def _conv(features, kernel, init, dtype, name=None):
  return nn.Conv(features, (kernel, kernel), padding=kernel // 2,
                 kernel_init=init, dtype=dtype, name=name)


class GeneratorBlock(nn.Module):
  features: int
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    bn = lambda: layers.batch_norm(train, self.axis_name, self.dtype)
    h = _upsample(nn.relu(bn()(x)))
    h = _conv(self.features, 3, residual_init, self.dtype)(h)
    h = _conv(self.features, 3, residual_init, self.dtype)(nn.relu(bn()(h)))
    shortcut = _conv(self.features, 1, plain_init, self.dtype,
                     name='shortcut')(_upsample(x))
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  features: int
  downsample: bool = True
  optimized: bool = False  # The first block: no ReLU before its first conv.
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = x if self.optimized else nn.relu(x)
    h = _conv(self.features, 3, residual_init, self.dtype)(h)
    h = _conv(self.features, 3, residual_init, self.dtype)(nn.relu(h))
    if self.downsample:
      h = _downsample(h)
    shortcut = x
    learnable = self.downsample or x.shape[-1] != self.features
    if self.optimized:
      shortcut = _conv(self.features, 1, plain_init, self.dtype,
                       name='shortcut')(_downsample(x))
    elif learnable:
      shortcut = _conv(self.features, 1, plain_init, self.dtype,
                       name='shortcut')(x)
      if self.downsample:
        shortcut = _downsample(shortcut)
    return h + shortcut


class SNGANGenerator(nn.Module):
  image_shape: Sequence[int]
  num_classes: int = 0
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    z = layers.latent_input(self, z, labels, self.num_classes, self.dtype)
    side, channels, _, _ = architecture(self.image_shape)
    x = nn.Dense(side * side * channels[0], kernel_init=plain_init,
                 dtype=self.dtype)(z)
    x = x.reshape((z.shape[0], side, side, channels[0]))
    for features in channels[1:]:
      x = GeneratorBlock(features, self.axis_name, self.dtype)(x, train)
    x = nn.relu(layers.batch_norm(train, self.axis_name, self.dtype)(x))
    x = _conv(self.image_shape[-1], 3, plain_init, self.dtype,
              name='to_image')(x)
    return jnp.tanh(x.astype(jnp.float32))


class SNGANDiscriminator(nn.Module):
  image_shape: Sequence[int]
  num_classes: int = 0
  conditioning: str = 'none'
  aux_classes: int = 0
  info_categorical: int = 0
  info_continuous: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del train  # No BatchNorm or dropout.
    y = layers.class_input(self, labels, self.num_classes)
    _, _, channels, downsample = architecture(self.image_shape)
    h = x.astype(self.dtype)
    for i, (features, down) in enumerate(zip(channels, downsample)):
      h = DiscriminatorBlock(features, down, optimized=i == 0,
                             dtype=self.dtype)(h)
    h = jnp.sum(nn.relu(h), axis=(1, 2))  # Global sum pooling.
    return layers.discriminator_heads(self, h, y, plain_init)


@registry.register('generator', 'sngan')
def build_generator(config, sample_shape, axis_name=None, num_classes=0):
  """SNGAN's ResNet generator for the data's size (32, 48 or 64)."""
  architecture(sample_shape)
  return SNGANGenerator(sample_shape, num_classes=num_classes,
                        axis_name=axis_name, dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'sngan')
def build_discriminator(config, sample_shape, axis_name=None, **heads):
  """SNGAN's ResNet discriminator (add config.model.spectral_norm=True)."""
  del axis_name
  architecture(sample_shape)
  return SNGANDiscriminator(sample_shape, dtype=jnp.dtype(config.dtype),
                            **heads)
