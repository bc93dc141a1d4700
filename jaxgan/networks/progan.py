"""ProGAN's generator and discriminator (Karras et al., ICLR 2018), as
the authors' `networks.py` (`G_paper`, `D_paper`, the 'linear' structure).

Every resolution's blocks exist from the start (`init` builds them all), so
the parameters never change shape; a call names the level it runs at
(static: level l works at 4 * 2**l pixels, and nothing above it is
computed) and the fade-in `alpha` (traced) of level l's new block:

  G: out = alpha * toRGB_l(block_l(x)) + (1 - alpha) * up(toRGB_{l-1}(x))
  D: h   = alpha * block_l(fromRGB_l(img)) + (1 - alpha) * fromRGB_{l-1}(down(img))

written so that alpha = 0 gives the previous level's output exactly and
alpha = 1 the new block's alone (the authors' `lerp_clip`). Every conv and
dense layer has the equalized learning rate (sec. 4.1): weights drawn from
N(0, 1) and multiplied at run time by He's constant gain / sqrt(fan_in)
(gain sqrt(2); sqrt(2) / 4 for G's first dense layer as the code; 1 for
toRGB and D's output). G normalises its latent and every conv's output per
pixel (sec. 4.2); D appends the minibatch standard deviation (group 4, sec.
3) before its last block. Widths are nf(stage) = min(fmap_base / 2**stage,
fmap_max) (the code's fmap_decay 1): the paper's 512 from 4x4 to 64x64 with
fmap_base 8192 and fmap_max 512.

G's upsampling is `upsample`: 'nearest' (the paper's, then a 3x3 conv),
'bilinear' (then a 3x3 conv) or 'transposed' (one 4x4 transposed conv of
stride 2 in place of the upsampling and the first conv; the authors' code
fuses its larger levels this way).
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import layers
from jaxgan.networks import registry

UPSAMPLES = layers.UPSAMPLES
SQRT2 = math.sqrt(2.0)


def nf(stage: int, fmap_base: int, fmap_max: int) -> int:
  """The authors' feature count of a stage (fmap_decay 1)."""
  return min(int(fmap_base / 2.0 ** stage), fmap_max)


def pixel_norm(x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
  """x / sqrt(mean over features of x^2 + epsilon) (Karras et al. 2018,
  eq. in sec. 4.2), per example and pixel; features on the last axis."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True)
                           + epsilon)


def upscale2d(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest-neighbour upsampling of (B, H, W, C) by any factor (toRGB
  outputs to the data's side)."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downscale2d(x: jax.Array, factor: int = 2) -> jax.Array:
  """Average pooling of (B, H, W, C) over factor x factor blocks."""
  b, h, w, c = x.shape
  return jnp.mean(x.reshape(b, h // factor, factor, w // factor, factor, c),
                  axis=(2, 4))


def lerp(old: jax.Array, new: jax.Array, alpha) -> jax.Array:
  """alpha * new + (1 - alpha) * old: exactly old at 0 and new at 1."""
  return alpha * new + (1.0 - alpha) * old


class EqualizedDense(nn.Module):
  """Dense with the equalized learning rate: kernel ~ N(0, 1), used as
  kernel * gain / sqrt(fan_in); bias 0."""
  features: int
  gain: float = SQRT2
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0),
                        (fan_in, self.features))
    y = x @ (kernel * (self.gain / math.sqrt(fan_in)))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros_init(),
                         (self.features,))
    return y


class EqualizedConv(nn.Module):
  """k x k convolution, 'same' padding, stride 1, with the equalized
  learning rate (kernel (k, k, C, F) ~ N(0, 1), scaled by gain /
  sqrt(k * k * C) at run time); bias 0. `transposed`: a stride-2
  transposed convolution instead (output twice the input's sides), with
  the same scaling by its own fan-in."""
  features: int
  kernel_size: int = 3
  gain: float = SQRT2
  transposed: bool = False

  @nn.compact
  def __call__(self, x):
    k, channels = self.kernel_size, x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0),
                        (k, k, channels, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    kernel = kernel * (self.gain / math.sqrt(k * k * channels))
    if self.transposed:
      y = jax.lax.conv_transpose(x, kernel, (2, 2), 'SAME',
                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    else:
      y = jax.lax.conv_general_dilated(
          x, kernel, (1, 1), 'SAME',
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + bias


def _act(x):
  return nn.leaky_relu(x, 0.2)


class _GBlock(nn.Module):
  """G's block of a level: 4x4 from the latent (level 0), else upsampling
  and two 3x3 convs; every conv followed by LeakyReLU 0.2 and pixel norm."""
  level: int
  features: int
  upsample: str = 'nearest'

  @nn.compact
  def __call__(self, x):
    f = self.features
    if self.level == 0:
      # (B, latent) -> (B, 4, 4, f), as the code: one dense layer of
      # 16 f units, gain sqrt(2) / 4, reshaped channel-major, then one bias
      # per channel.
      x = EqualizedDense(16 * f, gain=SQRT2 / 4, use_bias=False,
                         name='dense')(x)
      x = x.reshape(len(x), f, 4, 4).transpose(0, 2, 3, 1)
      x = x + self.param('bias', nn.initializers.zeros_init(), (f,))
      x = pixel_norm(_act(x))
      return pixel_norm(_act(EqualizedConv(f, 3, name='conv')(x)))
    if self.upsample == 'transposed':
      x = EqualizedConv(f, 4, transposed=True, name='conv0_up')(x)
    else:
      x = EqualizedConv(f, 3, name='conv0')(layers.resize2x(x, self.upsample))
    x = pixel_norm(_act(x))
    return pixel_norm(_act(EqualizedConv(f, 3, name='conv1')(x)))


class ProGANGenerator(nn.Module):
  """z (B, latent) -> images (B, 4 * 2**level, same, channels), linear."""
  levels: int  # The last level: the full resolution is 4 * 2**levels.
  channels: int = 3
  fmap_base: int = 8192
  fmap_max: int = 512
  upsample: str = 'nearest'
  normalize_latents: bool = True

  def setup(self):
    self.blocks = [
        _GBlock(l, nf(l + 1, self.fmap_base, self.fmap_max), self.upsample,
                name=f'block{4 * 2**l}') for l in range(self.levels + 1)]
    self.to_rgb = [EqualizedConv(self.channels, 1, gain=1.0,
                                 name=f'to_rgb{4 * 2**l}')
                   for l in range(self.levels + 1)]

  def __call__(self, z, level: int | None = None, alpha=None):
    """Level `level`'s images (default: the last); `alpha` (None: 1) fades
    its block in over the previous level's upsampled output."""
    level = self.levels if level is None else level
    x = pixel_norm(z) if self.normalize_latents else z
    for l in range(level):
      x = self.blocks[l](x)
    new = self.to_rgb[level](self.blocks[level](x))
    if alpha is None or level == 0:
      return new
    return lerp(upscale2d(self.to_rgb[level - 1](x)), new, alpha)

  def every_level(self, z):
    """Every level's toRGB output (builds all parameters: `init`)."""
    x = pixel_norm(z) if self.normalize_latents else z
    out = []
    for l in range(self.levels + 1):
      x = self.blocks[l](x)
      out.append(self.to_rgb[l](x))
    return out


class _DBlock(nn.Module):
  """D's block of a level: two 3x3 convs and average pooling; level 0:
  minibatch std, a 3x3 conv, dense, dense to the score."""
  level: int
  features: Sequence[int]  # (first conv, second conv or dense)
  mbstd_group: int = 4

  @nn.compact
  def __call__(self, x):
    f0, f1 = self.features
    if self.level == 0:
      if self.mbstd_group > 1:
        x = layers.minibatch_std(x, self.mbstd_group)
      x = _act(EqualizedConv(f0, 3, name='conv')(x))
      # Flattened channel-major, as the code's NCHW layout.
      x = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
      x = _act(EqualizedDense(f1, name='dense0')(x))
      return EqualizedDense(1, gain=1.0, name='dense1')(x)
    x = _act(EqualizedConv(f0, 3, name='conv0')(x))
    x = _act(EqualizedConv(f1, 3, name='conv1')(x))
    return downscale2d(x)


class ProGANDiscriminator(nn.Module):
  """images (B, 4 * 2**level, same, C) -> scores (B, 1), linear."""
  levels: int
  fmap_base: int = 8192
  fmap_max: int = 512
  mbstd_group: int = 4

  def setup(self):
    width = lambda stage: nf(stage, self.fmap_base, self.fmap_max)
    self.from_rgb = [EqualizedConv(width(l + 1), 1, name=f'from_rgb{4 * 2**l}')
                     for l in range(self.levels + 1)]
    self.blocks = [
        _DBlock(l, (width(l + 1), width(l)), self.mbstd_group,
                name=f'block{4 * 2**l}') for l in range(self.levels + 1)]

  def __call__(self, images, level: int | None = None, alpha=None):
    """Scores of level `level`'s images (default: the last); `alpha` (None:
    1) fades the level's block in over the previous level's path."""
    level = self.levels if level is None else level
    x = self.blocks[level](_act(self.from_rgb[level](images)))
    if alpha is not None and level > 0:
      old = _act(self.from_rgb[level - 1](downscale2d(images)))
      x = lerp(old, x, alpha)
    for l in range(level - 1, -1, -1):
      x = self.blocks[l](x)
    return x

  def every_level(self, images):
    """Every level's path from its own fromRGB (builds all parameters)."""
    out = []
    for level in range(self.levels + 1):
      size = images.shape[1] >> (self.levels - level)
      x = images[:, :size, :size]
      out.append(self(x, level, 0.5))
    return out


def init_params(module: nn.Module, key, *args):
  """Parameters of every level of `module` (called by `every_level` on
  `args`): each kernel N(0, 1) and each bias 0, as the layers' own
  initializers, drawn from one normal vector. Flax's `init` of every level
  (one draw per layer, and the forward passes) took XLA:CPU 20-30 s to
  compile for networks of a few thousand parameters; this takes a second."""
  shapes = jax.eval_shape(lambda: module.init(
      jax.random.key(0), *args, method=module.every_level))['params']
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  is_kernel = [path[-1].key == 'kernel' for path, _ in leaves]
  total = sum(leaf.size for (_, leaf), k in zip(leaves, is_kernel) if k)
  draws = jax.random.normal(key, (total,))
  out, offset = [], 0
  for (_, leaf), kernel in zip(leaves, is_kernel):
    if kernel:
      out.append(draws[offset:offset + leaf.size].reshape(leaf.shape))
      offset += leaf.size
    else:
      out.append(jnp.zeros(leaf.shape, leaf.dtype))
  return jax.tree_util.tree_unflatten(treedef, out)


def levels_of(spec) -> int:
  """The last level of square images of side 4 * 2**levels."""
  h, w = spec[:2]
  levels = int(math.log2(max(h, 4) // 4))
  if h != w or h != 4 * 2**levels:
    raise errors.ConfigError(
        f'ProGAN\'s networks take square images of side 4 x 2^k (4, 8, '
        f'..., 1024); the data is {h}x{w}: resize it with '
        '--config.data.image_size=(S, S)')
  return levels


def _check(config, spec):
  del config  # Its options are checked with the rest of the config.
  levels_of(spec)


@registry.register('generator', 'progan', check=_check)
def build_generator(config, spec, **unused):
  m = config.model
  return ProGANGenerator(levels_of(spec), spec[-1], m.fmap_base, m.fmap_max,
                         m.upsample)


@registry.register('discriminator', 'progan', check=_check)
def build_discriminator(config, spec, **unused):
  m = config.model
  return ProGANDiscriminator(levels_of(spec), m.fmap_base, m.fmap_max,
                             m.minibatch_std)
