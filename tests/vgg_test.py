"""The VGG19 port: torchvision's state-dict layout read without torch, the
same features as torch's network; the content loss and its missing file."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import srgan
from jaxgan import errors
from jaxgan import train
from jaxgan.networks import vgg


def torch_vgg19_features():
  """torchvision's `vgg19().features` (cfg 'E'), written with torch.nn
  (torchvision does not install beside this torch), with random weights."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  layers, channels = [], 3
  for item in vgg.CONFIG_E:
    if item == 'M':
      layers.append(nn.MaxPool2d(2, 2))
    else:
      layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(True)]
      channels = item

  class VGG(nn.Module):

    def __init__(self):
      super().__init__()
      self.features = nn.Sequential(*layers)

  torch.manual_seed(0)
  return VGG()


def test_layer_indices_are_torchvisions():
  # torchvision's vgg19 features: conv5_4 is index 34, its ReLU 35, pool 36.
  assert vgg.layer_index(5, 4) == 35
  assert vgg.layer_index(5, 4, after_activation=False) == 34
  assert vgg.layer_index(2, 2) == 8
  with pytest.raises(ValueError, match='phi_6,1'):
    vgg.layer_index(6, 1)


@pytest.mark.parametrize('last', [35, 34])
def test_features_equal_torch_on_the_same_images(tmp_path, last):
  import torch  # pylint: disable=g-import-not-at-top
  net = torch_vgg19_features()
  path = tmp_path / vgg.WEIGHTS_FILE
  torch.save(net.state_dict(), path)
  module, variables = vgg.load(str(path), last)
  images = np.random.default_rng(0).uniform(-1, 1, (2, 48, 40, 3)).astype(
      np.float32)
  ours = np.asarray(module.apply(variables, jnp.asarray(images)))
  x = torch.from_numpy(images).permute(0, 3, 1, 2)
  x = ((x + 1) / 2 - torch.tensor(vgg.IMAGENET_MEAN)[:, None, None]) / \
      torch.tensor(vgg.IMAGENET_STD)[:, None, None]
  with torch.no_grad():
    theirs = net.features[:last + 1](x).permute(0, 2, 3, 1).numpy()
  assert ours.shape == theirs.shape == (2, 3, 2, 512)
  # 1e-4 relative to the largest feature (the bar).
  np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max())
  if last == 34:  # before the ReLU: negative values too
    assert (theirs < 0).any()


def test_a_file_of_another_network_is_refused(tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'other.pth'
  torch.save({'features.0.weight': torch.zeros(32, 3, 3, 3),
              'features.0.bias': torch.zeros(32)}, path)
  with pytest.raises(errors.ConfigError, match='another network'):
    vgg.load(str(path))
  torch.save({'fc.weight': torch.zeros(3, 3)}, path)
  with pytest.raises(errors.ConfigError, match='lacks features.0.weight'):
    vgg.load(str(path))


def test_vgg_content_loss_without_weights_names_the_file(tmp_path):
  config = srgan.get_config('srgan,vgg')
  config.loss.vgg_weights = str(tmp_path / 'missing' / vgg.WEIGHTS_FILE)
  with pytest.raises(errors.MissingFileError,
                     match=r'download\.pytorch\.org/models/vgg19'):
    train.train_and_evaluate(config, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


def test_feature_loss_is_zero_on_equal_images_and_grows(tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  path = tmp_path / vgg.WEIGHTS_FILE
  torch.save(torch_vgg19_features().state_dict(), path)
  module, variables = vgg.load(str(path))
  rng = np.random.default_rng(1)
  a = jnp.asarray(rng.uniform(-1, 1, (1, 32, 32, 3)), jnp.float32)
  b = jnp.asarray(rng.uniform(-1, 1, (1, 32, 32, 3)), jnp.float32)
  assert float(vgg.feature_loss(module, variables, a, a)) == 0.0
  near = vgg.feature_loss(module, variables, a + 0.01 * (b - a), a)
  far = vgg.feature_loss(module, variables, b, a)
  assert 0 < float(near) < float(far)
  # The paper's 1/12.75 rescaling of the maps: the loss scales by its square.
  unscaled = vgg.feature_loss(module, variables, b, a, scale=1.0)
  assert float(far) == pytest.approx(float(unscaled) / 12.75 ** 2, rel=1e-5)
