"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"): the same random, differentiable transforms on
everything the discriminator sees, real and fake, in both the discriminator's
and the generator's update, so D cannot memorise a small training set and G
still gets gradients through the transforms.

The policy is a comma-separated list of the authors' ops, applied in order
(their `DiffAugment_pytorch.py`, on images in [-1, 1], NHWC here):
  color        brightness x + (r - 0.5), saturation (x - mean_c) * 2r + mean_c,
               contrast (x - mean_chw) * (r + 0.5) + mean_chw, r ~ U[0, 1) per
               example and op;
  translation  a shift by integers in [-H/8, H/8] x [-W/8, W/8] (rounded),
               zeros shifted in;
  cutout       a zeroed square of half the side, its centre uniform over the
               image (clipped at the border).
Each op is `draw` (its random parameters from a key, per example) then
`apply` (a pure function of the image and those parameters), so a paired
discriminator's source and target get the same transform, and tests can
check the maths against NumPy.
"""

import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import errors

OPS = ('color', 'translation', 'cutout')


def add_config(config: ml_collections.ConfigDict):
  """config.train.diffaugment, for the families whose discriminator sees
  images: the policy, e.g. 'color,translation,cutout'; '': off."""
  config.train.diffaugment = ''


def ops_from_config(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The policy's ops, or a ConfigError naming the bad one."""
  try:
    return parse(config.train.diffaugment)
  except ValueError as e:
    raise errors.ConfigError(f'config.train.diffaugment: {e}') from None


def parse(policy: str) -> tuple[str, ...]:
  """'color,translation' -> ('color', 'translation'); '' -> ()."""
  ops = tuple(p.strip() for p in policy.split(',') if p.strip())
  unknown = [op for op in ops if op not in OPS]
  if unknown:
    raise ValueError(f'unknown DiffAugment op(s) {unknown}: the policy is a '
                     f'comma-separated list of {list(OPS)}, e.g. '
                     '"color,translation,cutout"')
  return ops


def _shift(size: int, ratio: float) -> int:
  return int(size * ratio + 0.5)


def draw(op: str, key, shape) -> dict:
  """The random parameters of `op` for a batch of `shape` (B, H, W, C)."""
  b, h, w, _ = shape
  if op == 'color':
    r = jax.random.uniform(key, (3, b, 1, 1, 1))
    return {'brightness': r[0], 'saturation': r[1], 'contrast': r[2]}
  if op == 'translation':
    sh, sw = _shift(h, 0.125), _shift(w, 0.125)
    kh, kw = jax.random.split(key)
    return {'dy': jax.random.randint(kh, (b,), -sh, sh + 1),
            'dx': jax.random.randint(kw, (b,), -sw, sw + 1)}
  if op == 'cutout':
    ch, cw = _shift(h, 0.5), _shift(w, 0.5)
    kh, kw = jax.random.split(key)
    # The authors' offsets: centres in [0, H + (1 - ch % 2)).
    return {'cy': jax.random.randint(kh, (b,), 0, h + (1 - ch % 2)),
            'cx': jax.random.randint(kw, (b,), 0, w + (1 - cw % 2))}
  raise ValueError(f'unknown DiffAugment op {op!r}: one of {list(OPS)}')


def apply(op: str, x, params: dict):
  """`op` on x (B, H, W, C) with the parameters `draw` made."""
  if op == 'color':
    x = x + (params['brightness'] - 0.5)
    mean = jnp.mean(x, axis=3, keepdims=True)
    x = (x - mean) * (params['saturation'] * 2) + mean
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * (params['contrast'] + 0.5) + mean
  _, h, w, _ = x.shape
  rows = jnp.arange(h)[None, :]  # (1, H)
  cols = jnp.arange(w)[None, :]
  if op == 'translation':
    # Output pixel (i, j) is input (i + dy, j + dx), zero outside (the
    # authors' gather from the image padded by one zero pixel).
    src_r = rows + params['dy'][:, None]  # (B, H)
    src_c = cols + params['dx'][:, None]
    valid = (((src_r >= 0) & (src_r < h))[:, :, None] &
             ((src_c >= 0) & (src_c < w))[:, None, :])  # (B, H, W)
    gathered = jax.vmap(lambda img, r, c: img[r][:, c])(
        x, jnp.clip(src_r, 0, h - 1), jnp.clip(src_c, 0, w - 1))
    return jnp.where(valid[..., None], gathered, 0.0).astype(x.dtype)
  if op == 'cutout':
    ch, cw = _shift(h, 0.5), _shift(w, 0.5)
    top = params['cy'][:, None] - ch // 2
    left = params['cx'][:, None] - cw // 2
    in_rows = (rows >= top) & (rows < top + ch)  # (B, H)
    in_cols = (cols >= left) & (cols < left + cw)
    cut = in_rows[:, :, None] & in_cols[:, None, :]
    return jnp.where(cut[..., None], 0.0, x).astype(x.dtype)
  raise ValueError(f'unknown DiffAugment op {op!r}: one of {list(OPS)}')


def augment(x, key, ops: tuple[str, ...]):
  """Every op of the policy in order, each with its own key from `key`."""
  return augment_together((x,), key, ops)[0]


def augment_together(images: tuple, key, ops: tuple[str, ...]) -> tuple:
  """The same draws applied to each of several batches of equal (B, H, W):
  a conditional discriminator's source and image move together."""
  for i, op in enumerate(ops):
    params = draw(op, jax.random.fold_in(key, i), images[0].shape)
    images = tuple(apply(op, x, params) for x in images)
  return images
