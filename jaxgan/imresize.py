"""MATLAB's `imresize(image, scale)` with its default bicubic kernel.

Every published super-resolution table made its low-resolution inputs with
MATLAB's `imresize(hr, 1/scale)`, which antialiases when shrinking: the cubic
kernel (Keys 1981, a = -0.5) is stretched by 1/scale, so each output pixel of
an x4 downscale averages 16 input pixels per axis, not 4. Pillow, OpenCV and
`jax.image.resize` do not match it; this module does, from MATLAB's
`contributions` algorithm (`imresize.m`):

  output pixel i (1-based) sits at u = i / scale + (1 - 1 / scale) / 2 in the
  input; its taps are the input pixels floor(u - width / 2) + 0 .. P - 1
  (width = 4 / min(scale, 1), P = ceil(width) + 2), weighted by the kernel
  at u - tap (scaled by `scale` when shrinking) and normalised to sum 1;
  taps outside the image mirror back into it (symmetric padding).

Each axis is then one matrix (out, in), so a resize is two matrix products
(`resize`, NumPy, float64) or two `einsum`s on the device (`resize_jax`, the
super-resolution family's on-the-fly downscale). MATLAB resizes the axis of
the smaller scale first (rows first when equal) and rounds uint8 images to
uint8 after every axis; `resize` does the same with `quantize=True`.
"""

import functools
import math

import jax.numpy as jnp
import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
  """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
  ax = np.abs(x)
  ax2, ax3 = ax ** 2, ax ** 3
  return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) +
          (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2)))


@functools.cache
def _matrix(in_size: int, out_size: int, scale: float) -> np.ndarray:
  """The (out_size, in_size) float64 matrix of one axis (cached)."""
  width = 4.0 / scale if scale < 1 else 4.0
  x = np.arange(1, out_size + 1, dtype=np.float64)
  u = x / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(u - width / 2)
  taps = int(math.ceil(width)) + 2
  indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
  distance = u[:, None] - indices
  weights = scale * cubic(scale * distance) if scale < 1 else cubic(distance)
  weights /= weights.sum(axis=1, keepdims=True)
  # Symmetric padding: index 0 is pixel 1, -1 pixel 2, in + 1 pixel in ...
  mirror = np.concatenate([np.arange(in_size), np.arange(in_size)[::-1]])
  columns = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_size)]
  matrix = np.zeros((out_size, in_size))
  np.add.at(matrix, (np.repeat(np.arange(out_size), taps), columns.ravel()),
            weights.ravel())
  return matrix


def axis_matrix(in_size: int, scale: float,
                out_size: int | None = None) -> np.ndarray:
  """The resize matrix of one axis: (out, in), out = ceil(in * scale)."""
  if out_size is None:
    out_size = int(math.ceil(in_size * scale))
  return _matrix(in_size, out_size, float(scale))


def _order(scale_h: float, scale_w: float):
  return ('h', 'w') if scale_h <= scale_w else ('w', 'h')


def _check(height: int, width: int, scale: float):
  if scale < 1 and (round(height * scale) != height * scale or
                    round(width * scale) != width * scale):
    raise ValueError(
        f'a {height}x{width} image does not divide by {round(1 / scale)}: '
        f'crop it to a multiple of the scale first (`modcrop`)')


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
  """The top-left crop whose sides are multiples of `scale` (how the
  benchmark sets crop their HR images)."""
  height, width = image.shape[0], image.shape[1]
  return image[:height - height % scale, :width - width % scale]


def resize(image: np.ndarray, scale: float,
           quantize: bool | None = None) -> np.ndarray:
  """MATLAB's imresize(image, scale, 'bicubic') of an (H, W[, C]) image.

  uint8 in: uint8 out, rounded after each axis as MATLAB does (quantize
  None); float in: float64 out (quantize=True rounds to [0, 255] too).
  """
  image = np.asarray(image)
  is_uint8 = image.dtype == np.uint8
  quantize = is_uint8 if quantize is None else quantize
  _check(image.shape[0], image.shape[1], scale)
  x = image.astype(np.float64)
  for axis in _order(scale, scale):
    dim = 0 if axis == 'h' else 1
    m = axis_matrix(x.shape[dim], scale)
    x = np.tensordot(m, x, axes=(1, dim))
    x = np.moveaxis(x, 0, dim)
    if quantize:
      x = np.clip(np.round(x), 0, 255)
  return x.astype(np.uint8) if is_uint8 else x


def resize_jax(images, scale: float, quantize: bool = False):
  """imresize of a (B, H, W, C) float batch on the device (values in any
  range; quantize rounds to 1/127.5 steps of [-1, 1], i.e. to uint8 levels,
  after each axis, as MATLAB does to a uint8 image)."""
  _, height, width, _ = images.shape
  _check(height, width, scale)
  x = images
  for axis in _order(scale, scale):
    if axis == 'h':
      m = jnp.asarray(axis_matrix(height, scale), x.dtype)
      x = jnp.einsum('oh,bhwc->bowc', m, x)
    else:
      m = jnp.asarray(axis_matrix(width, scale), x.dtype)
      x = jnp.einsum('ow,bhwc->bhoc', m, x)
    if quantize:
      x = jnp.clip(jnp.round((x + 1) * 127.5), 0, 255) / 127.5 - 1
  return x
