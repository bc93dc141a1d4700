"""The ResNet generator (CycleGAN's resnet_9blocks): parameter counts, the
reflection padding and instance norm against NumPy, the whole network
against the authors' ResnetGenerator written in PyTorch here, and pix2pix
with it (the authors' --netG resnet_9blocks option)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image
import pytest
import torch
from torch import nn as tnn

from configs import pix2pix
from jaxgan import errors
from jaxgan import networks
from jaxgan import train
from jaxgan import translate
from jaxgan.networks import layers
from jaxgan.networks import resnet_generator


def test_parameter_counts_equal_the_reference():
  # The authors' networks.py: resnet_9blocks 11,378,179 for 3 -> 3
  # channels (CycleGAN issue's count), resnet_6blocks three blocks of
  # 2 x (3 * 3 * 256 * 256 + 256) fewer.
  for blocks, expected in ((9, 11_378_179), (6, 7_837_699)):
    module = resnet_generator.ResnetGenerator(num_blocks=blocks)
    assert networks.module_parameters(module, 1, 256, 256, 3) == expected
  # Batch norm (the pix2pix option): no convolution biases but the last,
  # a scale and offset per normalised channel.
  bn = resnet_generator.ResnetGenerator(num_blocks=9, norm='batch')
  convs = 11_378_179 - (64 + 128 + 256 + 18 * 256 + 128 + 64)
  norms = 2 * (64 + 128 + 256 + 18 * 256 + 128 + 64)
  assert networks.module_parameters(bn, 1, 64, 64, 3) == convs + norms


def test_reflection_padding_and_instance_norm_against_numpy():
  x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(
      np.float32)
  padded = np.asarray(resnet_generator.reflect_pad(jnp.asarray(x), 3))
  # ReflectionPad2d: row -k is row k (the edge row is not repeated).
  assert padded.shape == (2, 11, 12, 3)
  np.testing.assert_array_equal(padded[:, 3:8, 3:9], x)
  np.testing.assert_array_equal(padded[:, 0, 3:9], x[:, 3])
  np.testing.assert_array_equal(padded[:, 10, 3:9], x[:, 1])
  np.testing.assert_array_equal(padded[:, 3:8, 0], x[:, :, 3])
  norm = layers.norm('instance', True, None, jnp.float32)
  y = np.asarray(norm.apply({}, jnp.asarray(x, jnp.float32)))
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4,
                             atol=1e-5)


class _TorchBlock(tnn.Module):
  """The authors' ResnetBlock (reflect padding, instance norm, biases)."""

  def __init__(self, dim):
    super().__init__()
    self.conv_block = tnn.Sequential(
        tnn.ReflectionPad2d(1), tnn.Conv2d(dim, dim, 3),
        tnn.InstanceNorm2d(dim),
        tnn.ReLU(True), tnn.ReflectionPad2d(1), tnn.Conv2d(dim, dim, 3),
        tnn.InstanceNorm2d(dim))

  def forward(self, x):
    return x + self.conv_block(x)


def _torch_resnet(ngf, blocks, c_in=3, c_out=3):
  """The authors' ResnetGenerator with --norm instance, no dropout."""
  model = [tnn.ReflectionPad2d(3), tnn.Conv2d(c_in, ngf, 7),
           tnn.InstanceNorm2d(ngf), tnn.ReLU(True)]
  for mult in (1, 2):
    model += [tnn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1),
              tnn.InstanceNorm2d(ngf * mult * 2), tnn.ReLU(True)]
  model += [_TorchBlock(4 * ngf) for _ in range(blocks)]
  for mult in (4, 2):
    model += [tnn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, 1),
              tnn.InstanceNorm2d(ngf * mult // 2), tnn.ReLU(True)]
  model += [tnn.ReflectionPad2d(3), tnn.Conv2d(ngf, c_out, 7), tnn.Tanh()]
  return tnn.Sequential(*model)


def _conv_params(conv, transposed=False):
  w = conv.weight.detach().numpy()
  # Conv2d (out, in, k, k) -> HWIO; ConvTranspose2d (in, out, k, k) -> the
  # (k, k, in, out) kernel that layers.UpConv3 stores.
  w = w.transpose(2, 3, 0, 1) if transposed else w.transpose(2, 3, 1, 0)
  return {'kernel': jnp.asarray(w), 'bias': jnp.asarray(conv.bias.detach())}


def test_the_network_equals_the_authors_resnet_generator_in_torch():
  torch.manual_seed(0)
  ngf, blocks = 8, 2
  net = _torch_resnet(ngf, blocks).eval()
  convs = [m for m in net.modules()
           if isinstance(m, (tnn.Conv2d, tnn.ConvTranspose2d))]
  names = (['conv_in', 'down_0', 'down_1'] +
           [f'block_{i}_conv_{j}' for i in range(blocks) for j in (0, 1)] +
           ['up_0', 'up_1', 'conv_out'])
  params = {name: _conv_params(conv, isinstance(conv, tnn.ConvTranspose2d))
            for name, conv in zip(names, convs, strict=True)}
  module = resnet_generator.ResnetGenerator(num_blocks=blocks, features=ngf)
  x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 28, 3)).astype(
      np.float32)
  theirs = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
  ours = np.asarray(module.apply({'params': params}, jnp.asarray(x)))
  assert ours.shape == (2, 32, 28, 3)
  np.testing.assert_allclose(ours, theirs.transpose(0, 2, 3, 1), rtol=1e-4,
                             atol=1e-5)
  # The same names and shapes as the module's own parameters.
  init = module.init(jax.random.key(0), jnp.asarray(x), train=False)
  assert jax.tree.map(jnp.shape, init['params']) == jax.tree.map(
      jnp.shape, params)


def test_registered_for_pix2pix_and_refuses_a_size_it_cannot_take():
  config = ml_collections.ConfigDict({
      'dtype': 'float32',
      'model': {'generator': 'resnet_6blocks', 'g_features': 8,
                'norm': 'instance', 'dropout': False, 'conv_impl': 'conv'}})
  spec = {'source': (32, 32, 1), 'target': (32, 32, 3)}
  networks.check('generator', 'resnet_6blocks', config, spec)
  module = networks.build('generator', 'resnet_6blocks', config, spec)
  assert module.num_blocks == 6 and module.num_downs == 2
  y = module.apply(module.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1))),
                   jnp.zeros((1, 32, 32, 1)))
  assert y.shape == (1, 32, 32, 3)
  with pytest.raises(errors.ConfigError, match='multiples of 4'):
    networks.check('generator', 'resnet_6blocks', config,
                   {'source': (30, 32, 3), 'target': (30, 32, 3)})


def test_pix2pix_trains_with_it_and_translates_any_size(tmp_path):
  rng = np.random.default_rng(0)
  (tmp_path / 'data' / 'train').mkdir(parents=True)
  for i in range(4):  # A|B pairs: B is A's negative.
    a = rng.integers(0, 256, (36, 36, 3), np.uint8)
    Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(
        tmp_path / 'data' / 'train' / f'{i}.png')
  config = pix2pix.get_config('aligned')
  config.data.data_dir = str(tmp_path / 'data')
  config.data.load_size, config.data.crop_size = 36, 32
  config.model.generator = 'resnet_6blocks'
  config.model.norm = 'instance'  # The authors' CycleGAN default.
  config.model.g_features = config.model.d_features = 4
  config.train.batch_size = 2
  config.train.num_steps = 1
  config.sample_every = 1000
  config.num_samples = 2
  train.train_and_evaluate(config, tmp_path / 'run', jax.devices()[:1])
  translator = translate.load(tmp_path / 'run')
  assert translator.multiple == 4
  image = rng.integers(0, 256, (18, 23, 3), np.uint8)
  out = translator.translate(image)
  assert out.shape == (18, 23, 3) and np.all(np.abs(out) <= 1)
