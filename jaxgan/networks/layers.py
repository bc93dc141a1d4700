"""Layers and helpers every architecture shares: DCGAN's initialisation,
the norms, the 4x4 stride-2 convolution and transposed convolution in their
CPU and accelerator forms, class conditioning inputs and discriminator heads,
minibatch standard deviation and PacGAN packing.

Images are NHWC in [-1, 1]. Conditioning (`num_classes` > 0):
- generators concatenate the one-hot class to z (Mirza & Osindero 2014);
- discriminators see the class by `conditioning='concat'` (the MLP: the
  one-hot beside the flattened image; the DCGAN: one-hot planes, constant over
  the image, as extra input channels, so the first convolution already
  relates every pixel to the class; this is the cGAN of the paper carried over
  to convolutions) or `conditioning='projection'` (Miyato & Koyama 2018, eq.
  3: score = psi(h) + <embed(y), h> on the last features h; the class enters
  as an inner product instead of as an input, which they found stabler and
  better on ImageNet and CIFAR-10).
Discriminators can also carry heads on h: ACGAN's auxiliary classifier
(Odena et al. 2017) and InfoGAN's Q network (Chen et al. 2016), which shares
the discriminator's body. A discriminator with heads returns
(scores, {'class_logits', 'q_categorical', 'q_continuous'}); one without
returns the scores alone. Unconditional modules refuse labels rather than
silently ignore them.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.networks import conv_forms


def dcgan_init(key, shape, dtype=jnp.float32):
  """DCGAN's initialisation (Radford et al. 2016, sec. 4): N(0, 0.02).

  Drawn flat and reshaped: XLA:CPU takes ~7 s to compile one 4-D normal draw
  (a conv kernel) and ~0.5 s for the same draw in 1-D.
  """
  size = math.prod(shape)
  return 0.02 * jax.random.normal(key, (size,), dtype).reshape(shape)


def stage_sizes(size: int, num_stages: int | None = None) -> list[int]:
  """Spatial sizes from the smallest feature map up to `size`.

  Without `num_stages`, halves (rounding up) until the size is at most 7.
  """
  sizes = [size]
  while (sizes[-1] > 7 if num_stages is None else len(sizes) <= num_stages):
    sizes.append(max(1, -(-sizes[-1] // 2)))
  return sizes[::-1]


def image_stage_sizes(height: int, width: int):
  """Per-stage (h, w) for an image; both axes get the same number of stages."""
  num_stages = max(len(stage_sizes(height)), len(stage_sizes(width))) - 1
  return list(zip(stage_sizes(height, num_stages),
                  stage_sizes(width, num_stages)))


CONDITIONINGS = ('none', 'concat', 'projection')


def class_vectors(labels, num_classes: int) -> jax.Array:
  """Integer classes (B,) -> one-hot (B, K); class vectors (B, K) as given."""
  labels = jnp.asarray(labels)
  if jnp.issubdtype(labels.dtype, jnp.integer):
    return jax.nn.one_hot(labels, num_classes)
  if labels.shape[-1] != num_classes:
    raise ValueError(f'class vectors of size {labels.shape[-1]} for a model '
                     f'of {num_classes} classes')
  return labels.astype(jnp.float32)


def class_input(module: nn.Module, labels, num_classes: int):
  """The one-hot classes of a conditional module, or None; checks labels."""
  if not num_classes:
    if labels is not None:
      raise ValueError(
          f'{type(module).__name__} is unconditional but was given labels; '
          'set config.model.conditioning (cGAN, projection) or '
          'config.model.aux_classifier (ACGAN) for class-conditional '
          'training.')
    return None
  if labels is None:
    raise ValueError(f'{type(module).__name__} is class-conditional '
                     f'({num_classes} classes): pass labels.')
  return class_vectors(labels, num_classes)


def latent_input(module, z, labels, num_classes, dtype):
  """z, with the one-hot class appended for conditional generators."""
  y = class_input(module, labels, num_classes)
  z = z if y is None else jnp.concatenate([z, y.astype(z.dtype)], axis=-1)
  return z.astype(dtype)


def discriminator_heads(module, h, y, score_init, use_bias=True,
                         embed_init=None, q_norm=None):
  """Last features h (B, F) -> (scores (B,), heads) for `module`'s settings.

  Called inside the module's compact __call__: the layers are the module's.
  `embed_init` initialises the class embedding (K, F) as the score layer is:
  each row is one class's linear map of h. `q_norm`: a normalisation layer
  after Q's hidden layer (InfoGAN's BatchNorm there), or None.
  """
  dtype = module.dtype
  score = nn.Dense(1, use_bias=use_bias, kernel_init=score_init,
                   dtype=dtype)(h)[:, 0]
  if y is not None and module.conditioning == 'projection':
    # Miyato & Koyama 2018, eq. 3: the class embedding V y dotted with h.
    embedding = nn.Dense(h.shape[-1], use_bias=False, dtype=dtype,
                         kernel_init=embed_init or score_init,
                         name='class_embedding')(y.astype(dtype))
    score = score + jnp.sum(embedding * h, axis=-1)
  heads = {}
  if module.aux_classes:
    heads['class_logits'] = nn.Dense(module.aux_classes, dtype=dtype,
                                      name='aux_classifier')(h)
  if module.info_categorical or module.info_continuous:
    # InfoGAN's Q: one hidden layer on the shared body (Chen et al. 2016,
    # appendix C), a categorical distribution and Gaussian means.
    q = nn.Dense(128, dtype=dtype, name='q_hidden')(h)
    if q_norm is not None:
      q = q_norm(q)
    q = nn.leaky_relu(q, 0.2)
    if module.info_categorical:
      heads['q_categorical'] = nn.Dense(module.info_categorical, dtype=dtype,
                                        name='q_categorical')(q)
    if module.info_continuous:
      heads['q_continuous'] = nn.Dense(module.info_continuous, dtype=dtype,
                                       name='q_continuous')(q)
  score = score.astype(jnp.float32)
  if not heads:
    return score
  return score, jax.tree.map(lambda a: a.astype(jnp.float32), heads)


# PyTorch's momentum=0.1: running = 0.9 running + 0.1 batch.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm(train: bool, axis_name: str | None, dtype: Any, name=None):
  # Scale ~ N(1, 0.02) as in DCGAN.
  return nn.BatchNorm(use_running_average=not train,
                      momentum=BATCH_NORM_MOMENTUM,
                      epsilon=1e-5, axis_name=axis_name, dtype=dtype,
                      scale_init=lambda k, s, d: 1.0 + dcgan_init(k, s, d),
                      name=name)


def norm(kind: str, train: bool, axis_name: str | None, dtype: Any,
          name: str | None = None):
  if kind == 'batch':
    return batch_norm(train, axis_name, dtype, name=name)
  if kind == 'layer':
    # Gulrajani et al.'s layer norm for conv critics: statistics over
    # (H, W, C) of each example, per-channel scale and offset.
    return nn.GroupNorm(num_groups=1, epsilon=1e-5, dtype=dtype, name=name)
  if kind == 'instance':
    # PyTorch's InstanceNorm2d(affine=False), the pix2pix/CycleGAN option:
    # per example and channel over (H, W), no scale or offset.
    return nn.GroupNorm(num_groups=None, group_size=1, epsilon=1e-5,
                        use_scale=False, use_bias=False, dtype=dtype,
                        name=name)
  if kind == 'none':
    return lambda x: x
  raise errors.ConfigError(f"unknown norm {kind!r}: use 'batch', 'layer', "
                           "'instance' or 'none'")


def resolve_conv_impl(impl: str, measured: bool = True) -> str:
  """config.model.conv_impl -> the layers' `impl`.

  'auto' is 'tuned' on CPU (each convolution takes the form measured
  fastest on this machine, `conv_forms`) and 'conv' (XLA's convolutions)
  on accelerators; measured=False makes it the rules' forms ('matmul') on
  CPU, for networks whose outputs must not depend on the machine (the
  metrics' classifier). 'conv' and 'matmul' pin those.
  """
  if impl == 'auto':
    if jax.default_backend() != 'cpu':
      return 'conv'
    return 'tuned' if measured else 'matmul'
  if impl not in ('conv', 'matmul'):
    raise errors.ConfigError(f"unknown config.model.conv_impl {impl!r}: use 'auto', "
                     "'conv' (XLA convolutions) or 'matmul' (the CPU forms "
                     "the rules choose)")
  return impl


def _form(impl: str, site: conv_forms.Site):
  """The function (x, kernel) -> y that computes `site` under `impl`."""
  if impl == 'conv':
    name = 'xla'
  elif impl == 'matmul':
    name = conv_forms.rule(site)
  elif impl == 'tuned':
    name = conv_forms.choose(site)
  else:
    raise errors.ConfigError(f'unknown convolution impl {impl!r}: use '
                             "'conv', 'matmul' or 'tuned'")
  return conv_forms.build(site, name)


# Why several forms of the same convolutions: XLA's CPU backend runs the
# gradients of strided and transposed convolutions far below its matmul speed
# (and their second derivatives, which WGAN-GP's penalty needs, about 3x
# slower still), while on GPU/TPU the native convolutions are the fast path.
# The CPU forms write each convolution as strided slices + dots, whose
# derivatives are again slices, pads and dots. All give the same parameters
# and outputs to float tolerance (tests/conv_forms_test.py); which is fastest
# depends on the processor, so it is measured (`conv_forms`).

# Images NHWC, kernels HWIO: the layout of every convolution here.
_NHWC = ('NHWC', 'HWIO', 'NHWC')


class DownConv(nn.Module):
  """4x4 stride-2 convolution with padding 1 (PyTorch's Conv2d(4, 2, 1)).

  Parameters `kernel` (4, 4, in, features) and `bias`, as `nn.Conv`.
  impl='conv' is `lax.conv_general_dilated`. The CPU forms: 'xla_cpu' (XLA's
  convolution with its gradients written out, `_down_conv_xla_cpu`),
  'im2col' (the 16 taps gathered with strided slices and contracted in one
  dot) and 's2d' (space-to-depth cells times the kernel). impl='tuned'
  takes the one measured fastest on this machine (`conv_forms`),
  impl='matmul' the rules' choice (`_down_rule`). Set `double_backward` in
  a critic differentiated twice (a gradient penalty): the forms are timed
  under the second derivative.
  """
  features: int
  use_bias: bool = False
  kernel_init: Any = dcgan_init
  impl: str = 'conv'
  double_backward: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, channels, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    site = conv_forms.Site('down', x.shape, self.features,
                           jnp.dtype(self.dtype).name,
                           2 if self.double_backward else 1)
    y = _form(self.impl, site)(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


class UpConv(nn.Module):
  """4x4 stride-2 transposed convolution: (B, H, W, in) -> (B, 2H, 2W, out).

  Same parameters and outputs as `nn.ConvTranspose(features, (4, 4), (2, 2),
  padding=((2, 2), (2, 2)))` (PyTorch's ConvTranspose2d(4, 2, 1) up to a
  kernel flip). Output row 2m + a only sees kernel rows a and a + 2 (input
  rows m - 1 + a and m + a), so each of the four output phases (a, b) is an
  ordinary 2x2 convolution. impl='conv' is `lax.conv_transpose`. The CPU
  forms: 'phases' computes each phase as 4 shifted slices and one dot (with
  a hand-written backward pass, see `_wide_upconv`); 'col2im' multiplies
  every input pixel by all 16 taps first and adds the shifted products.
  impl='tuned' takes the one measured fastest here (`conv_forms`),
  impl='matmul' the rules' (col2im for narrow outputs, the RGB or grey
  output layer; phases otherwise).
  """
  features: int
  use_bias: bool = False
  kernel_init: Any = dcgan_init
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, channels, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    site = conv_forms.Site('up', x.shape, self.features,
                           jnp.dtype(self.dtype).name, 1)
    y = _form(self.impl, site)(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


def _interleave(phase):
  """Output pixel (2m + a, 2n + b) = phase(a, b)[m, n]."""
  y = jnp.stack([jnp.stack([phase(a, b) for b in (0, 1)], axis=3)
                 for a in (0, 1)], axis=2)  # (B, H, 2[a], W, 2[b], C)
  batch, height, _, width, _, channels = y.shape
  return y.reshape(batch, 2 * height, 2 * width, channels)


def _upconv_phases(x, kernel):
  """UpConv's forward pass as four 2x2 convolutions, each slices + a dot."""
  batch, height, width, channels = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))

  def phase(a, b):
    patches = jnp.concatenate(
        [xp[:, a + i:a + i + height, b + j:b + j + width]
         for i in (0, 1) for j in (0, 1)], axis=-1)
    out = jnp.dot(patches.reshape(-1, 4 * channels),
                  kernel[a::2, b::2].reshape(4 * channels, -1))
    return out.reshape(batch, height, width, -1)

  return _interleave(phase)


def _upconv_xla(x, kernel):
  return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                dimension_numbers=_NHWC)


def _tap_products(x, kernel):
  """(B, H, W, C) x (k, k, C, F) -> (B, H, W, k, k, F): every pixel times
  every tap, one dot (the col2im forms add shifted slices of it)."""
  batch, height, width, channels = x.shape
  k, _, _, features = kernel.shape
  t = jnp.dot(x.reshape(-1, channels),
              kernel.transpose(2, 0, 1, 3).reshape(channels, -1))
  return t.reshape(batch, height, width, k, k, features)


def _upconv_col2im(x, kernel):
  """UpConv as every input pixel times all 16 taps, then the shifted
  products added (cheap when the output is narrow)."""
  _, height, width, _ = x.shape
  t = jnp.pad(_tap_products(x, kernel),
              ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (0, 0)))
  return _interleave(
      lambda a, b: sum(t[:, a + i:a + i + height, b + j:b + j + width,
                         a + 2 * i, b + 2 * j]
                       for i in (0, 1) for j in (0, 1)))


def _down_rule(site):
  """DownConv's form by the rules: per-layer timings on a 2-core Zen 1 CPU,
  forward + backward (benchmarks/README.md). XLA's convolution beats both
  matmul forms on outputs up to 8x8 from 64+ channels into up to 256
  (dcgan32's 16x16 64 -> 128: 62 vs 82 ms), space-to-depth beats im2col on
  wide even maps; under a second derivative im2col beats both."""
  _, height, width, channels = site.shape
  out_h = height // 2
  if site.order == 2 or channels < 32:
    return 'im2col'
  if channels >= 64 and out_h <= 8 and site.features <= 256:
    return 'xla_cpu'
  if (height % 2 == width % 2 == 0 and
      (out_h >= 16 or (out_h >= 8 and site.features <= 128))):
    return 's2d'
  return 'im2col'


def _down_conv_xla(x, kernel):
  return jax.lax.conv_general_dilated(
      x, kernel, (2, 2), ((1, 1), (1, 1)),
      dimension_numbers=_NHWC)


@jax.custom_vjp
def _down_conv_xla_cpu(x, kernel):
  """XLA's convolution, with both gradients written as NHWC convolutions.

  Autodiff's kernel gradient is a convolution with the batch as its
  contracted features (dim_labels f01b_i01o->01bf); XLA:CPU rewrites it into
  a form its Eigen kernels run, but not inside a loop body (a `lax.scan`
  over critic updates or iterations), where it runs 20-40x slower (dcgan32's
  16x16 64 -> 128: 72 ms forward + backward alone, 2.6 s inside a scan).
  Here each gradient is already in that form.
  """
  return _down_conv_xla(x, kernel)


def _down_conv_xla_cpu_fwd(x, kernel):
  return _down_conv_xla(x, kernel), (x, kernel)


def _down_conv_xla_cpu_bwd(res, dy):
  x, kernel = res
  # Rows (columns) of an odd input that no window reaches get one less pad.
  odd_h, odd_w = x.shape[1] % 2, x.shape[2] % 2
  # dx: dy dilated by the stride, correlated with the flipped kernel.
  flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
  dx = jax.lax.conv_general_dilated(
      dy, flipped, (1, 1), ((2, 2 + odd_h), (2, 2 + odd_w)),
      lhs_dilation=(2, 2), dimension_numbers=_NHWC)
  # dkernel[a, b, i, o] = sum_{n, y, x} x_pad[n, 2y + a, 2x + b, i] dy[n, y,
  # x, o]: input channels as the batch, the batch as the features, dy as a
  # kernel dilated by the stride.
  dk = jax.lax.conv_general_dilated(
      x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), (1, 1),
      ((1, 1 - odd_h), (1, 1 - odd_w)), rhs_dilation=(2, 2),
      dimension_numbers=_NHWC)
  return dx.astype(x.dtype), dk.transpose(1, 2, 0, 3).astype(kernel.dtype)


_down_conv_xla_cpu.defvjp(_down_conv_xla_cpu_fwd, _down_conv_xla_cpu_bwd)


def _down_conv_im2col(x, kernel):
  """DownConv as the 16 taps gathered by strided slices and one dot."""
  batch, height, width, channels = x.shape
  patches = _stride2_windows(x)  # (B, h, w, 16 * in)
  y = jnp.dot(patches.reshape(-1, 16 * channels),
              kernel.reshape(16 * channels, -1))
  return y.reshape(batch, height // 2, width // 2, -1)


def _down_conv_s2d(x, kernel):
  """DownConv by space-to-depth (even H and W).

  The padded input becomes (h + 1, w + 1) cells of 2x2 pixels; output (m, n)
  sees cells (m + di, n + dj), di, dj in {0, 1}. One dot multiplies every cell
  by all four cell-taps at once and the output adds four shifted slices of the
  products: no im2col copy, but ((h + 1) / h)^2 extra FLOPs for an h x h
  output. Measured on a 2-core CPU (benchmarks/README.md): faster than im2col
  from h = 16 on, and at h = 8 up to 128 output channels; slower under a
  second derivative.
  """
  batch, height, width, channels = x.shape
  out_h, out_w, features = height // 2, width // 2, kernel.shape[-1]
  k = kernel.reshape(2, 2, 2, 2, channels, features)  # di pi dj pj
  k = k.transpose(1, 3, 4, 0, 2, 5).reshape(4 * channels, 4 * features)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  cells = xp.reshape(batch, out_h + 1, 2, out_w + 1, 2, channels)
  cells = cells.transpose(0, 1, 3, 2, 4, 5)
  t = jnp.dot(cells.reshape(-1, 4 * channels), k).reshape(
      batch, out_h + 1, out_w + 1, 2, 2, features)
  return sum(t[:, i:i + out_h, j:j + out_w, i, j]
             for i in (0, 1) for j in (0, 1))


def _stride2_windows(x):
  """(B, H, W, C) -> (B, H // 2, W // 2, 16 C): im2col of a 4x4 stride-2
  convolution with padding 1, taps in row-major order, then channels.

  DownConv's patches, and in `_wide_upconv`'s backward pass the windows of
  the output gradient that each input pixel of a transposed convolution saw.
  """
  _, height, width, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jnp.concatenate(
      [xp[:, i:i + 2 * (height // 2) - 1:2, j:j + 2 * (width // 2) - 1:2]
       for i in range(4) for j in range(4)], axis=-1)


# A transposed convolution's input gradient is the strided convolution of the
# output gradient with the flipped kernel, and its kernel gradient correlates
# the input with the same stride-2 windows of the output gradient. Written
# this way the backward pass is one window gather and two dots, where
# differentiating the phases' slices and concatenations gave pads, adds and
# four dots per phase: 1.3x faster forward + backward for UpConv, 1.3-2x for
# UpConv3 (benchmarks/README.md). Only reverse mode is defined
# (jax.custom_vjp), which is all training needs.
def _phases_with_window_vjp(forward, windows, flipped: bool):
  """`forward` (x, kernel) -> y, a stride-2 transposed convolution, with its
  backward pass from `windows(dy)` -> (B, H, W, k * k * out), the output
  gradient that each input pixel saw, taps in row-major order of the
  kernel (of the kernel flipped, if `flipped`)."""

  @jax.custom_vjp
  def conv(x, kernel):
    return forward(x, kernel)

  def conv_bwd(residuals, dy):
    x, kernel = residuals
    k, _, channels, features = kernel.shape
    taps = windows(dy).reshape(-1, k * k * features)
    oriented = kernel[::-1, ::-1] if flipped else kernel
    dx = jnp.dot(taps, oriented.transpose(0, 1, 3, 2).reshape(
        k * k * features, channels))  # (k, k, out, in) in the taps' order
    dk = jnp.dot(x.reshape(-1, channels).T, taps)  # (in, k k out)
    dk = dk.reshape(channels, k, k, features).transpose(1, 2, 0, 3)
    if flipped:
      dk = dk[::-1, ::-1]
    return dx.reshape(x.shape).astype(x.dtype), dk.astype(kernel.dtype)

  conv.defvjp(lambda x, kernel: (forward(x, kernel), (x, kernel)), conv_bwd)
  return conv


_wide_upconv = _phases_with_window_vjp(_upconv_phases, _stride2_windows,
                                       flipped=True)


class UpConv3(nn.Module):
  """3x3 stride-2 transposed convolution, PyTorch's ConvTranspose2d(3, 2,
  padding=1, output_padding=1): (B, H, W, in) -> (B, 2H, 2W, features), the
  the ResNet generator's upsampling (resnet_generator.py).

  Parameters `kernel` (3, 3, in, features), PyTorch's weight (in, out, 3, 3)
  transposed (2, 3, 0, 1) without a flip, and `bias`. Output row 2m sees
  input row m through kernel row 1; row 2m + 1 sees rows m and m + 1
  through kernel rows 2 and 0 (row H is the output padding's zero). So the
  four output phases hold 1, 2, 2 and 4 taps: 9 products per input pixel,
  where impl='conv' (XLA's convolution of the input dilated by 2 with the
  flipped kernel, 'xla') multiplies 36, three quarters of them zeros, and
  XLA:CPU differentiates it about 30x slower than its forward pass (1.5 s
  per layer at 256x256, batch 1; benchmarks/README.md). The CPU forms, as
  UpConv's: 'phases' computes each phase as shifted slices and one dot,
  with the backward pass written out (`_upconv3`); 'col2im' multiplies
  every input pixel by the 9 taps and adds the shifted products. 'tuned'
  times them here, 'matmul' takes the rules' (col2im up to 16 outputs).
  """
  features: int
  use_bias: bool = True
  kernel_init: Any = dcgan_init
  impl: str = 'conv'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (3, 3, x.shape[-1], self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    site = conv_forms.Site('up', x.shape, self.features,
                           jnp.dtype(self.dtype).name, 1, kernel_size=3)
    y = _form(self.impl, site)(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


def _upconv3_xla(x, kernel):
  return jax.lax.conv_general_dilated(
      x, jnp.flip(kernel, (0, 1)), (1, 1), ((1, 2), (1, 2)),
      lhs_dilation=(2, 2), dimension_numbers=_NHWC)


# Output phase a of an axis: the (input shift, kernel index) of its taps.
_UP3_TAPS = {0: ((0, 1),), 1: ((0, 2), (1, 0))}


def _upconv3_phases(x, kernel):
  """UpConv3's forward pass: each output phase is shifted slices + a dot."""
  batch, height, width, channels = x.shape
  xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))  # Output padding.

  def phase(a, b):
    taps = [(si, sj, kernel[ki, kj]) for si, ki in _UP3_TAPS[a]
            for sj, kj in _UP3_TAPS[b]]
    patches = jnp.concatenate(
        [xp[:, si:si + height, sj:sj + width] for si, sj, _ in taps], -1)
    out = jnp.dot(patches.reshape(-1, len(taps) * channels),
                  jnp.concatenate([k for _, _, k in taps], axis=0))
    return out.reshape(batch, height, width, -1)

  return _interleave(phase)


def _upconv3_col2im(x, kernel):
  """UpConv3 as every input pixel times all 9 taps, then each phase's
  shifted products added (for narrow outputs)."""
  _, height, width, _ = x.shape
  t = jnp.pad(_tap_products(x, kernel),
              ((0, 0), (0, 1), (0, 1), (0, 0), (0, 0), (0, 0)))
  return _interleave(
      lambda a, b: sum(t[:, si:si + height, sj:sj + width, ki, kj]
                       for si, ki in _UP3_TAPS[a] for sj, kj in _UP3_TAPS[b]))


def _stride2_windows3(dy):
  """(B, 2H, 2W, F) -> (B, H, W, 9 F): UpConv3's input pixel m fed output
  rows 2m - 1, 2m and 2m + 1 through kernel rows 0, 1 and 2, so its window
  of the output gradient (padded by one row and column before) is that of
  a Conv2d(3, 2, 1)."""
  _, height, width, _ = dy.shape
  dyp = jnp.pad(dy, ((0, 0), (1, 0), (1, 0), (0, 0)))
  return jnp.concatenate(
      [dyp[:, i:i + height - 1:2, j:j + width - 1:2]
       for i in range(3) for j in range(3)], axis=-1)


_upconv3 = _phases_with_window_vjp(_upconv3_phases, _stride2_windows3,
                                   flipped=False)


class PatchConv(nn.Module):
  """k x k convolution with padding `padding` and stride `stride` (PyTorch's
  Conv2d(k, s, p)): the PatchGAN's last two layers, the 3x3 and 9x9 layers
  of Ledig et al. 2017's generator and its discriminator's stride-2 ones.

  Parameters `kernel` (k, k, in, features) and `bias`, as `nn.Conv`.
  impl='conv' is XLA's convolution; the CPU form 'im2col' gathers the k * k
  taps with slices and contracts them in one dot, whose gradients are again
  slices and dots: XLA:CPU's own stride-1 convolution gradients ran several
  times slower at the PatchGAN's shapes (e.g. 4x4, 256 -> 512 at batch 16),
  so it is also the rules' choice ('matmul'); 'col2im' multiplies every
  input pixel by all k * k taps and adds the shifted products (for narrow
  outputs); 'winograd' (3x3 only) computes Winograd's F(2x2, 3x3) at stride
  1, the rules' choice for the wide 3x3 layers of the ResNet generator and
  SRResNet, and its polyphase form at stride 2 (25 products per 2x2 output
  tile against 36), the rules' choice for the stride-2 layers of up to 128
  input channels; 'winograd4' F(4x4, 3x3); 'tuned' times them here.
  """
  features: int
  kernel_size: int = 4
  padding: int = 1
  stride: int = 1
  use_bias: bool = True
  kernel_init: Any = dcgan_init
  impl: str = 'conv'
  double_backward: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, channels = self.kernel_size, x.shape[-1]
    kernel = self.param('kernel', self.kernel_init,
                        (k, k, channels, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    site = conv_forms.Site('patch', x.shape, self.features,
                           jnp.dtype(self.dtype).name,
                           2 if self.double_backward else 1, k, self.padding,
                           self.stride)
    y = _form(self.impl, site)(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


def _patch_xla(site):
  pad = ((site.padding, site.padding),) * 2
  stride = (site.stride, site.stride)
  return lambda x, kernel: jax.lax.conv_general_dilated(
      x, kernel, stride, pad, dimension_numbers=_NHWC)


def _taps(xp, k, s):
  """Output sizes and the (i, j) tap's slice of a padded input."""
  out_h = (xp.shape[1] - k) // s + 1
  out_w = (xp.shape[2] - k) // s + 1
  return out_h, out_w, lambda a, i, j: a[:, i:i + s * (out_h - 1) + 1:s,
                                         j:j + s * (out_w - 1) + 1:s]


def _patch_im2col(site):
  k, p, s = site.kernel_size, site.padding, site.stride

  def conv(x, kernel):
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    batch, _, _, channels = xp.shape
    out_h, out_w, tap = _taps(xp, k, s)
    patches = jnp.concatenate(
        [tap(xp, i, j) for i in range(k) for j in range(k)], axis=-1)
    y = jnp.dot(patches.reshape(-1, k * k * channels),
                kernel.reshape(k * k * channels, -1))
    return y.reshape(batch, out_h, out_w, -1)

  return conv


def _patch_col2im(site):
  """Every padded input pixel times all k * k taps, then the shifted
  products added: for narrow outputs (the PatchGAN's 1-logit layer), where
  im2col would copy k * k windows of a wide input for a thin product."""
  k, p, s = site.kernel_size, site.padding, site.stride

  def conv(x, kernel):
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    _, _, tap = _taps(xp, k, s)
    t = _tap_products(xp, kernel)
    return sum(tap(t, i, j)[:, :, :, i, j]
               for i in range(k) for j in range(k))

  return conv


# Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray 2016): each
# m x m output tile of a 3x3 stride-1 convolution from its (m+2)^2 input
# tile d and the kernel g as A^T [(G g G^T) * (B^T d B)] A, the channel sums
# as (m+2)^2 products (tiles, C) x (C, F). F(2x2, 3x3): 16 multiplies per 4
# outputs where the direct convolution does 36, transforms of 0, +-1 and
# +-1/2. F(4x4, 3x3) (points 0, +-1, +-2): 36 per 16 outputs, 4x fewer, and
# fewer transformed values per output (36 per 16 against 16 per 4) for more
# additions per value and a larger float error (the transforms' 4s and 5s).
_WINOGRAD = {
    2: (((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (.5, .5, .5), (.5, -.5, .5), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1))),
    4: (((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
         (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
        ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
         (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
        ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0),
         (0, 1, -1, 8, -8, 1))),
}


def _combine(coefficients, parts):
  """sum(c * p) over the non-zero coefficients, without multiplying by 1."""
  total = None
  for c, part in zip(coefficients, parts):
    if c:
      term = part if c == 1 else -part if c == -1 else c * part
      total = term if total is None else total + term
  return total


# A 3x3 stride-2 convolution along one axis: the even taps (g0, g2) on the
# even samples as F(2, 2) (3 products for 2 outputs) and the odd tap g1 on
# the odd samples (2 products), so 5 products for 2 outputs where the direct
# convolution does 6; per 2x2 output tile (its 5x5 input tile, 4 apart) 25
# dots against 36, with transforms of 0 and +-1 only.
_WINOGRAD_S2 = (((1, 0, -1, 0, 0), (0, 0, 1, 0, 0), (0, 0, -1, 0, 1),
                 (0, 1, 0, 0, 0), (0, 0, 0, 1, 0)),
                ((1, 0, 0), (1, 0, 1), (0, 0, 1), (0, 1, 0), (0, 1, 0)),
                ((1, 1, 0, 1, 0), (0, 1, 1, 0, 1)))


def _patch_winograd(site, m: int = 2):
  """A 3x3 convolution as Winograd's F(m x m, 3x3) (stride 1) or the
  polyphase F(2x2, 3x3) of `_WINOGRAD_S2` (stride 2): the input and
  output transforms are slices and additions XLA fuses, the products
  n^2 plain dots (n the transformed tile's side), and autodiff's gradients
  again transforms and dots. XLA:CPU's own 3x3 convolution and im2col reach
  a third to half of a plain dot's rate at the ResNet generator's and
  SRResNet's 3x3 layers (benchmarks/README.md); this form does less
  arithmetic at a dot's rate. Output sizes that m does not divide take
  padded rows or columns more, cropped after. Float error relative to
  XLA's (conv_forms_test): about 1e-6 for m=2, 1e-5 for m=4 (the
  transforms' sums)."""
  p, s = site.padding, site.stride
  bt, gm, at = _WINOGRAD[m] if s == 1 else _WINOGRAD_S2
  n, step = len(bt), m * s  # Tile side; input rows between tiles.

  def conv(x, kernel):
    batch, height, width, channels = x.shape
    out_h, out_w = (height + 2 * p - 3) // s + 1, (width + 2 * p - 3) // s + 1
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # The last tile reads n rows from step * (tiles - 1).
    bottom = max(0, step * (tiles_h - 1) + n - height - p)
    right = max(0, step * (tiles_w - 1) + n - width - p)
    xp = jnp.pad(x, ((0, 0), (p, bottom), (p, right), (0, 0)))
    g = jnp.asarray(gm, kernel.dtype)
    u = jnp.einsum('ai,ijcf,bj->abcf', g, kernel, g).reshape(
        n * n, channels, -1)
    # B^T d B: the rows' combinations, then the columns'.
    rows = [xp[:, a:a + step * tiles_h:step] for a in range(n)]
    v = []
    for r in range(n):
      mixed = _combine(bt[r], rows)
      cols = [mixed[:, :, b:b + step * tiles_w:step] for b in range(n)]
      v.extend(_combine(bt[c], cols).reshape(-1, channels)
               for c in range(n))
    prods = [jnp.dot(v[e], u[e]) for e in range(n * n)]
    # A^T M A, each output tile's m x m pixels.
    half = [[_combine(at[r], prods[b::n]) for b in range(n)]
            for r in range(m)]
    y = jnp.stack([jnp.stack([_combine(at[c], half[r])
                              for c in range(m)], 1) for r in range(m)], 1)
    y = y.reshape(batch, tiles_h, tiles_w, m, m, -1).transpose(
        0, 1, 3, 2, 4, 5).reshape(batch, m * tiles_h, m * tiles_w, -1)
    return y[:, :out_h, :out_w]

  return conv


def _winograd_valid(site):
  return site.kernel_size == 3 and site.stride in (1, 2)


def _patch_rule(site):
  """PatchConv's form by the rules: im2col (the PatchGAN's 4x4 layers, timed
  on a Zen 1), XLA's convolution for wide kernels into few channels
  (SRResNet's last 9x9 layer, 64 -> 3: im2col's 81-tap patch matrix feeds a
  3-column product and its gradient scatters 81 slices back; at 96x96,
  batch 16, fwd+bwd on an Intel Xeon: XLA 0.60 s, col2im 3.4 s, im2col
  5.5 s)."""
  if site.kernel_size >= 7 and site.features < site.shape[-1]:
    return 'xla'
  batch, height, width, channels = site.shape
  if (_winograd_valid(site) and site.stride == 2 and 32 <= channels <= 128
      and batch * height * width >= 8192):
    # Forward + backward, ms, im2col -> the polyphase Winograd, Zen 4
    # (benchmarks/README.md "Stride-2 3x3 convolutions as a polyphase
    # Winograd"): SRGAN D's 96x96 64 -> 64 at batch 16 141 -> 134, 48x48
    # 128 -> 128 85 -> 81; the ResNet generator's 256x256 64 -> 128 at
    # batch 1 93 -> 79, 128x128 128 -> 256 65 -> 60. From 256 channels
    # im2col stays faster (24x24 256 -> 256 58 against 65, 12x12 512 -> 512
    # 45 against 138).
    return 'winograd'
  if (_winograd_valid(site) and site.stride == 1 and channels >= 32 and
      batch * height * width >= 2048):
    # Forward + backward on a Zen 4 (benchmarks/README.md "Winograd"):
    # the ResNet generator's 64x64 256 -> 256 at batch 1 72 ms (im2col
    # 129, XLA 84), SRResNet's 24x24 64 -> 64 at batch 16 18 ms (im2col 41,
    # XLA 26); at 8x8 (that generator at 32x32: 12 ms, im2col 2) and from
    # 3 channels im2col stays faster.
    # F(4x4, 3x3) ('winograd4') is left to the tuner: faster alone at some
    # of these layers, not in SRGAN's whole iteration (benchmarks/README.md
    # "Winograd F(4x4, 3x3)").
    return 'winograd'
  return 'im2col'


def _even(site):
  return site.shape[1] % 2 == site.shape[2] % 2 == 0


# The forms `conv_forms` chooses among. XLA's strided and transposed
# convolutions as autodiff differentiates them (what impl='conv' runs on
# accelerators) are not timed on CPU: inside a loop body their gradients ran
# 20-100x slower than the other forms (the transposed one at dcgan64's 4x4
# 512 -> 256: 6.1 s against 60 ms for the phases, on the Zen 5 of
# benchmarks/README.md), so timing them would spend the budget for nothing.
# 'xla_cpu' is that strided convolution with its gradients in the layout
# XLA:CPU runs fast there.
conv_forms.register('down', 'xla', lambda site: _down_conv_xla,
                    measured=False)
conv_forms.register('down', 'xla_cpu', lambda site: _down_conv_xla_cpu)
conv_forms.register('down', 'im2col', lambda site: _down_conv_im2col)
conv_forms.register('down', 's2d', lambda site: _down_conv_s2d, valid=_even)
conv_forms.register_rule('down', _down_rule)
# 'up' sites are UpConv's 4x4 (kernel_size 4) or UpConv3's 3x3 ones.
conv_forms.register(
    'up', 'xla', lambda site: _upconv3_xla if site.kernel_size == 3
    else _upconv_xla, measured=False)
conv_forms.register(
    'up', 'phases', lambda site: _upconv3 if site.kernel_size == 3
    else _wide_upconv)
conv_forms.register(
    'up', 'col2im', lambda site: _upconv3_col2im if site.kernel_size == 3
    else _upconv_col2im)
conv_forms.register_rule(
    'up', lambda site: 'col2im' if site.features <= 16 else 'phases')
conv_forms.register('patch', 'xla', _patch_xla)
conv_forms.register('patch', 'im2col', _patch_im2col)
conv_forms.register('patch', 'col2im', _patch_col2im)
conv_forms.register('patch', 'winograd', _patch_winograd,
                    valid=_winograd_valid)
# F(4x4, 3x3) in float32 only: its transforms' coefficients (1/6, 1/24, 5,
# 8) cost bfloat16's 8-bit significand several times its own rounding.
conv_forms.register('patch', 'winograd4',
                    lambda site: _patch_winograd(site, 4),
                    valid=lambda site: (_winograd_valid(site) and
                                        site.stride == 1 and
                                        site.dtype == 'float32'))
conv_forms.register_rule('patch', _patch_rule)


# How a generator doubles its feature maps (`config.model.upsample`): a 4x4
# stride-2 transposed convolution, or a resize followed by a 3x3
# convolution (Odena et al. 2016, "Deconvolution and checkerboard
# artifacts": the transposed convolution's uneven overlap leaves a
# checkerboard of period 2 that a resize does not).
UPSAMPLES = ('transposed', 'nearest', 'bilinear')


def resize2x(x: jax.Array, method: str) -> jax.Array:
  """(B, H, W, C) -> (B, 2H, 2W, C): 'nearest' repeats every pixel;
  'bilinear' interpolates with half-pixel centres and clamped edges (no
  antialiasing: it upsamples)."""
  if method == 'nearest':
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  if method == 'bilinear':
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), 'bilinear',
                            antialias=False)
  raise errors.ConfigError(f'config.model.upsample={method!r}: one of '
                           f'{UPSAMPLES}')


def minibatch_std(x: jax.Array, group_size: int = 4) -> jax.Array:
  """Appends the minibatch standard deviation (Karras et al. 2018, sec. 3).

  The batch is split into groups of `group_size` examples (example n is in
  group n mod (B / group_size), as in Karras et al.'s code); each group's standard
  deviation of every feature (biased, + 1e-8 inside the root) is averaged
  over features and positions, and that one number is appended to each of
  its examples as an extra feature (B, F) -> (B, F + 1) or an extra channel
  (B, H, W, C) -> (B, H, W, C + 1). A discriminator that sees it can tell a
  batch of near-identical fakes from a varied real batch. The group is
  min(group_size, B); B must divide by it.
  """
  batch = x.shape[0]
  group = min(group_size, batch)
  if batch % group:
    raise errors.ConfigError(f'minibatch_std: the batch ({batch}) must divide by the '
                     f'group size ({group}); change config.model.minibatch_std '
                     'or the batch size')
  y = x.astype(jnp.float32).reshape((group, batch // group) + x.shape[1:])
  y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)  # (B / group, ...)
  y = jnp.mean(y, axis=tuple(range(1, y.ndim)))  # (B / group,)
  y = jnp.tile(y, group).astype(x.dtype)  # Example n: group n mod (B / group).
  y = jnp.broadcast_to(y.reshape((batch,) + (1,) * (x.ndim - 1)),
                       x.shape[:-1] + (1,))
  return jnp.concatenate([x, y], axis=-1)


def pack_samples(x: jax.Array, pack: int) -> jax.Array:
  """PacGAN's packing (Lin et al. 2018): `pack` consecutive examples as one.

  (B, D) -> (B / pack, pack * D) for points and flat inputs, and
  (B, H, W, C) -> (B / pack, H, W, pack * C) for images (channels stacked,
  as PacGAN does for images). Real and fake batches are packed separately,
  so every packed example is all-real or all-fake.
  """
  if pack == 1:
    return x
  batch = x.shape[0]
  if batch % pack:
    raise errors.ConfigError(f'PacGAN packing: the batch ({batch}) must divide by '
                     f'config.model.pack ({pack})')
  x = x.reshape((batch // pack, pack) + x.shape[1:])
  x = jnp.moveaxis(x, 1, -2)  # (B / pack, ..., pack, C)
  return x.reshape(x.shape[:-2] + (pack * x.shape[-1],))


