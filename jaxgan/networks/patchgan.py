"""The patch discriminators of Isola et al. 2017 (sec. 3.2.2, Table 2, App.
6.1.2): PatchGAN, PixelGAN and the full-image GAN.

`PatchGAN(n_layers=3)` is the authors' `NLayerDiscriminator` (`--netD
basic`): C64 (4x4 stride 2, LeakyReLU 0.2, no norm), then n_layers - 1 more
stride-2 4x4 convolutions and one stride-1 (C128, C256, C512: channels
64 * min(2^n, 8)), each with BatchNorm and LeakyReLU 0.2, then a stride-1
4x4 convolution to one logit per patch; padding 1 throughout, conv bias off
before BatchNorm. Each output logit sees a 70x70 window of the input with
n_layers = 3 (16x16 with 1, 286x286 with 5: the paper's Table 2 "ImageGAN"
at 256x256). The 6-channel (source | target) one has 2,768,705 parameters,
like the reference. `PixelGAN` is the 1x1 variant (`--netD pixel`).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.networks import layers
from jaxgan.networks import registry


def receptive_field(n_layers: int) -> int:
  """Input window of one output logit: 70 for n_layers = 3."""
  field = 1 + 3 + 3  # The two stride-1 4x4 convolutions.
  for _ in range(n_layers):
    field = 2 * field + 2  # A 4x4 stride-2 convolution, padding 1.
  return field


class PatchGAN(nn.Module):
  """(B, H, W, C) -> (B, H', W') patch logits (H' = H / 2^n_layers - 2)."""
  n_layers: int = 3
  features: int = 64
  norm: str = 'batch'
  axis_name: str | None = None
  impl: str = 'conv'
  double_backward: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm == 'instance'
    h = layers.DownConv(self.features, use_bias=True, impl=self.impl,
                        double_backward=self.double_backward,
                        dtype=self.dtype, name='conv_0')(x.astype(self.dtype))
    h = nn.leaky_relu(h, 0.2)
    for n in range(1, self.n_layers + 1):
      width = self.features * min(2 ** n, 8)
      if n < self.n_layers:
        h = layers.DownConv(width, use_bias=bias, impl=self.impl,
                            double_backward=self.double_backward,
                            dtype=self.dtype, name=f'conv_{n}')(h)
      else:
        h = layers.PatchConv(width, use_bias=bias, impl=self.impl,
                             double_backward=self.double_backward,
                             dtype=self.dtype, name=f'conv_{n}')(h)
      h = layers.norm(self.norm, train, self.axis_name, self.dtype,
                      name=f'norm_{n}')(h)
      h = nn.leaky_relu(h, 0.2)
    h = layers.PatchConv(1, impl=self.impl, dtype=self.dtype,
                         name=f'conv_{self.n_layers + 1}')(h)
    return h[..., 0].astype(jnp.float32)


class PixelGAN(nn.Module):
  """The 1x1 PatchGAN: C64 (LeakyReLU), C128 (norm, LeakyReLU), 1 logit per
  pixel; the last two convolutions without bias, as the authors'."""
  features: int = 64
  norm: str = 'batch'
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm == 'instance'
    conv = lambda width, use_bias, name: nn.Conv(  # pylint: disable=g-long-lambda
        width, (1, 1), use_bias=use_bias, kernel_init=layers.dcgan_init,
        dtype=self.dtype, name=name)
    h = nn.leaky_relu(conv(self.features, True, 'conv_0')(
        x.astype(self.dtype)), 0.2)
    h = conv(2 * self.features, bias, 'conv_1')(h)
    h = layers.norm(self.norm, train, self.axis_name, self.dtype,
                    name='norm_1')(h)
    h = conv(1, bias, 'conv_2')(nn.leaky_relu(h, 0.2))
    return h[..., 0].astype(jnp.float32)


@registry.register('discriminator', 'patchgan')
def build_patchgan(config, spec, axis_name=None):
  """The n_layers PatchGAN (70x70 at n_layers 3; 286x286 at 5, which sees
  all of a 256x256 image) from `config.model`."""
  del spec
  m = config.model
  return PatchGAN(n_layers=m.n_layers, features=m.d_features, norm=m.norm,
                  axis_name=axis_name,
                  impl=layers.resolve_conv_impl(m.conv_impl),
                  dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'pixelgan')
def build_pixelgan(config, spec, axis_name=None):
  """The 1x1 PixelGAN from `config.model`."""
  del spec
  m = config.model
  return PixelGAN(features=m.d_features, norm=m.norm, axis_name=axis_name,
                  dtype=jnp.dtype(config.dtype))
