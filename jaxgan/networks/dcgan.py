"""DCGAN (Radford et al. 2016) generator and discriminator at any image size.

`layers.stage_sizes` halves the height and width (rounding up) until both
are at most 7, so 28 -> 14 -> 7, 32 -> 16 -> 8 -> 4, 64 -> ... -> 4 (the
pytorch/examples layout), and 100 -> 50 -> 25 -> 13 -> 7. The generator
projects z to the smallest size and doubles with 4x4 stride-2 transposed
convolutions (or, with `upsample`, a resize and a 3x3 convolution),
cropping one row/column where the target is odd; the
discriminator mirrors it with 4x4 stride-2 convolutions and ends in a dense
layer over the last feature map (the same linear map as pytorch/examples'
final 4x4 'valid' convolution).
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.networks import layers
from jaxgan.networks import registry


class DCGANGenerator(nn.Module):
  """z -> (Dense projection, BN, ReLU) -> (ConvT 4x4/2, BN, ReLU)* -> tanh."""
  image_shape: Sequence[int]  # (H, W, C)
  base_features: int = 64
  axis_name: str | None = None
  conv_impl: str = 'conv'
  num_classes: int = 0
  fc_hidden: int = 0
  # layers.UPSAMPLES: 'transposed' (DCGAN's), or 'nearest' / 'bilinear'
  # resizing followed by a 3x3 convolution.
  upsample: str = 'transposed'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    z = layers.latent_input(self, z, labels, self.num_classes, self.dtype)
    if self.fc_hidden:  # InfoGAN's FC 1024, BN, ReLU before the projection.
      z = nn.Dense(self.fc_hidden, use_bias=False, kernel_init=layers.dcgan_init,
                   dtype=self.dtype, name='fc_hidden')(z)
      z = nn.relu(layers.batch_norm(train, self.axis_name, self.dtype,
                              name='fc_hidden_bn')(z))
    height, width, channels = self.image_shape
    sizes = layers.image_stage_sizes(height, width)
    num_up = len(sizes) - 1
    features = self.base_features * 2 ** max(num_up - 1, 0)
    (h0, w0) = sizes[0]
    # Equivalent to pytorch/examples' 1x1 -> h0 x w0 ConvTranspose (no bias).
    x = nn.Dense(h0 * w0 * features, use_bias=False, kernel_init=layers.dcgan_init,
                 dtype=self.dtype)(z)
    x = x.reshape((z.shape[0], h0, w0, features))
    x = nn.relu(layers.batch_norm(train, self.axis_name, self.dtype)(x))
    for i, (h, w) in enumerate(sizes[1:]):
      last = i == num_up - 1
      features = channels if last else features // 2
      if self.upsample == 'transposed':
        # Padding 2 on the dilated input = PyTorch's ConvTranspose2d(4, 2, 1).
        x = layers.UpConv(features, impl=self.conv_impl, dtype=self.dtype)(x)
      else:
        x = layers.PatchConv(features, 3, padding=1, use_bias=False,
                             impl=self.conv_impl, dtype=self.dtype)(
                                 layers.resize2x(x, self.upsample))
      x = x[:, :h, :w]
      if not last:
        x = nn.relu(layers.batch_norm(train, self.axis_name, self.dtype)(x))
    if num_up == 0:  # Tiny images: the projection is the whole generator.
      x = nn.Dense(channels, kernel_init=layers.dcgan_init, dtype=self.dtype)(x)
    return jnp.tanh(x.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
  """(Conv 4x4/2, [norm], LeakyReLU 0.2)* -> Dense -> one score per example.

  norm='batch', use_bias=False is the DCGAN discriminator (no norm after the
  first layer); norm='layer' or 'none' with use_bias=True is the WGAN-GP critic,
  whose gradient penalty is per example and so must not mix examples.
  """
  image_shape: Sequence[int]
  base_features: int = 64
  norm: str = 'batch'
  use_bias: bool = False
  axis_name: str | None = None
  conv_impl: str = 'conv'
  num_classes: int = 0
  conditioning: str = 'none'
  aux_classes: int = 0
  info_categorical: int = 0
  info_continuous: int = 0
  fc_hidden: int = 0
  # Set when the loss differentiates the critic twice (a gradient penalty):
  # DownConv's matmul form then keeps to im2col (faster there). The trainer
  # uses it only for the penalty's pass (`families.gan.GAN.penalty_discriminator`).
  double_backward: bool = False
  # > 0: a minibatch-std channel over groups of this size (`minibatch_std`)
  # enters the last convolution, as in ProGAN's last block.
  minibatch_std: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    y = layers.class_input(self, labels, self.num_classes)
    height, width, _ = self.image_shape
    num_down = len(layers.image_stage_sizes(height, width)) - 1
    x = x.astype(self.dtype)
    if y is not None and self.conditioning == 'concat':
      planes = jnp.broadcast_to(y[:, None, None, :].astype(self.dtype),
                                x.shape[:3] + y.shape[-1:])
      x = jnp.concatenate([x, planes], axis=-1)
    features = self.base_features
    for i in range(num_down):
      if self.minibatch_std and i == num_down - 1:
        x = layers.minibatch_std(x, self.minibatch_std)
      x = layers.DownConv(features, use_bias=self.use_bias, impl=self.conv_impl,
                   double_backward=self.double_backward,
                   dtype=self.dtype)(x)
      if i > 0:
        x = layers.norm(self.norm, train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
      features *= 2
    x = x.reshape((x.shape[0], -1))
    norm = functools.partial(layers.norm, self.norm, train, self.axis_name,
                             self.dtype)
    if self.fc_hidden:  # InfoGAN's FC 1024, [norm], LeakyReLU.
      x = nn.Dense(self.fc_hidden, use_bias=self.use_bias,
                   kernel_init=layers.dcgan_init, dtype=self.dtype,
                   name='fc_hidden')(x)
      x = nn.leaky_relu(norm(name='fc_hidden_norm')(x), 0.2)
    return layers.discriminator_heads(self, x, y, layers.dcgan_init, self.use_bias,
                                q_norm=norm(name='q_norm'))




@registry.register('generator', 'dcgan')
def build_generator(config, sample_shape, axis_name=None, num_classes=0):
  """The noise GAN's DCGAN generator from `config.model`."""
  m = config.model
  return DCGANGenerator(sample_shape, m.g_features, axis_name=axis_name,
                        conv_impl=layers.resolve_conv_impl(m.conv_impl),
                        num_classes=num_classes, fc_hidden=m.g_fc_hidden,
                        upsample=m.upsample, dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'dcgan')
def build_discriminator(config, sample_shape, axis_name=None, **heads):
  """The DCGAN discriminator (d_norm 'batch') or WGAN-GP critic."""
  m = config.model
  return DCGANDiscriminator(
      sample_shape, m.d_features, norm=m.d_norm, use_bias=m.d_norm != 'batch',
      axis_name=axis_name, conv_impl=layers.resolve_conv_impl(m.conv_impl),
      fc_hidden=m.d_fc_hidden, double_backward=config.loss.penalty != 'none',
      minibatch_std=m.minibatch_std, dtype=jnp.dtype(config.dtype), **heads)
