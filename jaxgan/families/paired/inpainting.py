"""Inpainting's masks, overlap weights and completed images (Pathak et al. 2016).

The paired family's `inpainting` data (`config.data.name`): the batch holds
the images alone, and the source is made from each on the device: a hole
(`data.mask`) filled with a constant colour (`data.fill`, the authors'
ImageNet mean 117, 104, 123). The masks, each drawn from its own key:

  center         the centre square of side `data.hole_size` (the paper's
                 central region; 16 at 32x32, 32 at 64x64, 64 at 128x128).
  random_block   a square of side `hole_size` at a uniformly random place.
  random_region  the authors' random pattern (train_random.lua): uniform
                 noise on a coarse grid (`data.region_res` of the side),
                 upsampled bilinearly and thresholded so that
                 `data.region_density` of the pixels (1/4) are the hole.

The generator predicts a patch (`patch_size`): the image's centre half, as
the authors' centre model, when the mask is `center` and the hole plus its
overlap border fits in it; otherwise the whole image. The content loss
weights each pixel of the patch (`weights`): 1 inside the hole,
`loss.overlap_weight` (10, train.lua's overlapL2Weight) on the border of
`data.overlap` pixels of known context around it (overlapPred: the
prediction overlaps the context so that the fill joins it), and 0 beyond.
The discriminator sees the patch with the generator's output inside the hole
and its border and the real image elsewhere (`compose`): the authors' raw
predicted patch, where hole and border fill it. The completed image keeps
every known pixel and takes the generator's inside the hole (`complete`).
"""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxgan import errors

MASKS = ('center', 'random_block', 'random_region')
# train.lua's fill of the hole: ImageNet's mean colour, in grey levels.
AUTHORS_FILL = (117, 104, 123)


def validate(data, size: int):
  """errors.ConfigError naming the fix where the mask cannot fit `size`."""
  if data.mask not in MASKS:
    raise errors.ConfigError(f'config.data.mask={data.mask!r}: use one of '
                             f'{MASKS}')
  if data.mask != 'random_region' and not 0 < data.hole_size < size:
    raise errors.ConfigError(
        f'config.data.hole_size={data.hole_size} does not fit the {size}x'
        f'{size} images: use 1 to {size - 1} (half the side, '
        f'{size // 2}, is the paper\'s)')
  if data.overlap < 0:
    raise errors.ConfigError('config.data.overlap must be 0 or more')
  if data.mask == 'random_region' and not 0 < data.region_density < 1:
    raise errors.ConfigError('config.data.region_density must be in (0, 1)')
  if len(tuple(data.fill)) != 3:
    raise errors.ConfigError(
        f'config.data.fill={tuple(data.fill)}: three grey levels (R, G, B; '
        'a grey image takes their mean)')


def patch_size(data, size: int) -> int:
  """The side of the square the generator predicts, centred in the image."""
  if data.mask == 'center' and data.hole_size + 2 * data.overlap <= size // 2:
    return size // 2
  return size


def fill_levels(data, channels: int) -> np.ndarray:
  fill = np.asarray(tuple(data.fill), np.float32)
  return fill if channels == 3 else fill.mean(keepdims=True)


def _one_hole(data, key, size: int):
  """(S, S) float32, 1 in the hole."""
  rows = jnp.arange(size)
  if data.mask == 'random_region':
    grid = max(2, int(round(size * data.region_res)))
    noise = jax.random.uniform(key, (grid, grid))
    field = jax.image.resize(noise, (size, size), 'bilinear')
    # The hole: the region_density share of pixels with the largest field.
    threshold = jnp.sort(field.reshape(-1))[
        int(round((1 - data.region_density) * size * size))]
    return (field >= threshold).astype(jnp.float32)
  hole = data.hole_size
  if data.mask == 'center':
    top = left = (size - hole) // 2
  else:
    top, left = jax.random.randint(key, (2,), 0, size - hole + 1)
  inside = lambda start: (rows >= start) & (rows < start + hole)  # pylint: disable=g-long-lambda
  return (inside(top)[:, None] & inside(left)[None, :]).astype(jnp.float32)


def holes(data, keys, size: int) -> jax.Array:
  """(B, S, S, 1) float32 masks, 1 in the hole, one per key."""
  return jax.vmap(lambda k: _one_hole(data, k, size))(keys)[..., None]


def example_keys(seed: int, step, batch_size: int) -> jax.Array:
  """The training masks' keys: a function of (seed, step, row)."""
  base = jax.random.fold_in(jax.random.key(seed + 1), step)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(
      jnp.arange(batch_size))


def eval_holes(data, seed: int, num: int, size: int) -> np.ndarray:
  """The evaluation masks: image i's from (seed, i), uint8 (N, S, S, 1)."""
  base = jax.random.key(seed + 2)
  keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num))
  return np.asarray(holes(data, keys, size)).astype(np.uint8)


def border(hole: jax.Array, width: int) -> jax.Array:
  """The known pixels within `width` pixels (the square window) of the hole."""
  if not width:
    return jnp.zeros_like(hole)
  k = 2 * width + 1
  grown = jax.lax.reduce_window(hole, -jnp.inf, jax.lax.max, (1, k, k, 1),
                                (1, 1, 1, 1), 'SAME')
  return grown - hole


def _crop(images, data, size: int):
  p = patch_size(data, size)
  top = (size - p) // 2
  return images[:, top:top + p, top:top + p]


def weights(data, loss, hole: jax.Array) -> jax.Array:
  """Per-pixel content-loss weights over the patch (B, P, P, 1)."""
  size = hole.shape[1]
  w = hole + loss.overlap_weight * border(hole, data.overlap)
  return _crop(w, data, size)


def masked(data, images: jax.Array, hole: jax.Array) -> jax.Array:
  """Images in [-1, 1] with the hole filled by `data.fill`."""
  fill = jnp.asarray(fill_levels(data, images.shape[-1])) / 127.5 - 1.0
  return images * (1 - hole) + fill * hole


def masked_uint8(data, images: np.ndarray, hole: np.ndarray) -> np.ndarray:
  fill = np.round(fill_levels(data, images.shape[-1])).astype(np.uint8)
  return np.where(hole.astype(bool), fill, images).astype(np.uint8)


def region(data, images: jax.Array) -> jax.Array:
  """The patch of full-size images (B, S, S, C) -> (B, P, P, C)."""
  return _crop(images, data, images.shape[1])


def compose(patch_weights: jax.Array, fake: jax.Array,
            real: jax.Array) -> jax.Array:
  """What D sees of a fake: G's pixels where the loss weighs them (hole and
  border), the real patch elsewhere."""
  use = (patch_weights > 0).astype(fake.dtype)
  return fake * use + real * (1 - use)


def paste(data, fake: jax.Array, size: int) -> jax.Array:
  """G's patch (B, P, P, C) placed at the centre of a (B, S, S, C) canvas."""
  p = fake.shape[1]
  top = (size - p) // 2
  return jnp.pad(fake, ((0, 0), (top, size - p - top), (top, size - p - top),
                        (0, 0)))


def complete(data, source: jax.Array, fake: jax.Array,
             hole: jax.Array) -> jax.Array:
  """The completed image: known pixels kept, G's inside the hole."""
  return jnp.where(hole > 0, paste(data, fake, source.shape[1]), source)


def user_hole(config, size: int, mask: str, image: np.ndarray) -> np.ndarray:
  """The bool (H, W) hole of a user's `image` (uint8 (H, W, C)): `mask` is
  an image of the same size (white = the hole), or 'run' for the run's own
  eval mask at its training `size`, resized to the image's."""
  from jaxgan.families.paired import data as paired_data  # pylint: disable=g-import-not-at-top
  height, width = image.shape[:2]
  if mask == 'run':
    hole = eval_holes(config.data, config.seed, 1, size)[0, ..., 0]
    return np.asarray(Image.fromarray(hole * 255).resize(
        (width, height), Image.NEAREST)) > 127
  try:
    hole = paired_data._read(mask, 'L')[..., 0] > 127  # pylint: disable=protected-access
  except (OSError, ValueError, SyntaxError) as e:
    raise errors.MissingFileError(f'--mask={mask} is not a readable image '
                                  f'({e})') from None
  if hole.shape != (height, width):
    raise errors.ConfigError(
        f'--mask={mask} is {hole.shape[1]}x{hole.shape[0]} but the image is '
        f'{width}x{height}: give a mask of the image\'s size (white = hole), '
        "or --mask=run for the run's own mask")
  if not hole.any():
    raise errors.ConfigError(f'--mask={mask} has no white (hole) pixels')
  return hole
