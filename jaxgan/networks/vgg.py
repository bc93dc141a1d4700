"""VGG19 features for perceptual (content) losses, from torchvision's weights.

SRGAN's content loss (Ledig et al. 2017, eq. 5) compares VGG19 feature maps
of the output and the target: phi_5,4, the 4th convolution of block 5 after
its ReLU, before the 5th max-pool ("VGG54"), the maps rescaled by 1 / 12.75
(the paper's factor, which brings the loss to the scale of the pixel MSE);
ESRGAN (Wang et al. 2018) takes the same layer before its ReLU.

The weights are torchvision's ImageNet `vgg19` state dict
(`vgg19-dcbb9e9d.pth`, what `torchvision.models.vgg19(weights='DEFAULT')`
downloads to ~/.cache/torch/hub/checkpoints), read without torch
(`jaxgan.torch_pickle`); its keys are `features.N.weight` / `.bias` for the
convolutions at torchvision's indices of cfg 'E'. Inputs are [-1, 1] RGB,
mapped to [0, 1] and normalised with ImageNet's mean and std as torchvision
expects. `tests/vgg_test.py` checks the port against the same network in
torch with random weights saved by torch.
"""

import os
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import errors
from jaxgan import torch_pickle

# torchvision's cfg 'E': channels of each 3x3 convolution, 'M' a 2x2 max-pool.
CONFIG_E = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M',
            512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M')
WEIGHTS_FILE = 'vgg19-dcbb9e9d.pth'
WEIGHTS_URL = f'https://download.pytorch.org/models/{WEIGHTS_FILE}'
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# SRGAN's rescaling of the VGG feature maps.
SRGAN_FEATURE_SCALE = 1 / 12.75


def _layers():
  """[(torchvision features index, 'conv' | 'relu' | 'pool', block, n,
  channels)]: phi_block,n is block's n-th convolution."""
  out, index, block, n = [], 0, 1, 0
  for item in CONFIG_E:
    if item == 'M':
      out.append((index, 'pool', block, n, None))
      index, block, n = index + 1, block + 1, 0
    else:
      n += 1
      out.append((index, 'conv', block, n, item))
      out.append((index + 1, 'relu', block, n, item))
      index += 2
  return out


LAYERS = _layers()


def layer_index(block: int, conv: int, after_activation: bool = True) -> int:
  """The torchvision `features` index that ends phi_block,conv: its ReLU
  (SRGAN) or its convolution (ESRGAN's before-activation features)."""
  for index, kind, b, n, _ in LAYERS:
    if (b, n) == (block, conv) and kind == ('relu' if after_activation
                                            else 'conv'):
      return index
  raise ValueError(f'VGG19 has no layer phi_{block},{conv}')


class VGG19Features(nn.Module):
  """(B, H, W, 3) RGB in [-1, 1] -> torchvision's `vgg19().features[:last +
  1]` output, NHWC."""
  last: int = 35  # phi_5,4 after its ReLU
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = ((x + 1) / 2 - IMAGENET_MEAN) / IMAGENET_STD
    x = x.astype(self.dtype)
    for index, kind, _, _, channels in LAYERS:
      if index > self.last:
        break
      if kind == 'conv':
        # PyTorch's zero padding 1; named by torchvision's index.
        x = nn.Conv(channels, (3, 3), padding=1,
                    dtype=self.dtype, name=f'features_{index}')(x)
      elif kind == 'relu':
        x = nn.relu(x)
      else:
        x = nn.max_pool(x, (2, 2), (2, 2))
    return x.astype(jnp.float32)


def params_from_torch(state: dict, last: int = 35) -> dict:
  """torchvision vgg19 state dict {features.N.weight: (O, I, 3, 3), ...} ->
  VGG19Features parameters (kernels HWIO)."""
  params = {}
  for index, kind, _, _, channels in LAYERS:
    if kind != 'conv' or index > last:
      continue
    w_key, b_key = f'features.{index}.weight', f'features.{index}.bias'
    if w_key not in state or b_key not in state:
      raise errors.ConfigError(
          f'the VGG19 weights file lacks {w_key}: it is not torchvision\'s '
          f'vgg19 state dict ({WEIGHTS_URL})')
    weight = np.asarray(state[w_key], np.float32)
    if weight.shape[2:] != (3, 3) or weight.shape[0] != channels:
      raise errors.ConfigError(
          f'{w_key} has shape {weight.shape}, not VGG19\'s '
          f'({channels}, *, 3, 3): another network\'s file')
    params[f'features_{index}'] = {
        'kernel': jnp.asarray(weight.transpose(2, 3, 1, 0)),
        'bias': jnp.asarray(np.asarray(state[b_key], np.float32))}
  return {'params': params}


def default_path() -> pathlib.Path:
  """Where torchvision keeps the file: $TORCH_HOME/hub/checkpoints."""
  torch_home = os.environ.get('TORCH_HOME', os.path.join(
      os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')),
      'torch'))
  return pathlib.Path(torch_home) / 'hub' / 'checkpoints' / WEIGHTS_FILE


def load(path: str | None = None, last: int = 35):
  """(module, variables) of VGG19 up to features index `last`, from the
  torchvision weights at `path` (default: torchvision's cache)."""
  path = pathlib.Path(path) if path else default_path()
  if not path.is_file():
    raise errors.MissingFileError(
        f'the VGG19 weights {path} are missing: the VGG content loss needs '
        f"torchvision's ImageNet vgg19 file. Download {WEIGHTS_URL} (or run "
        "torchvision.models.vgg19(weights='DEFAULT') once) and pass "
        '--config.loss.vgg_weights=PATH, or train with the pixel loss '
        '(--config.loss.vgg_weight=0 --config.loss.mse_weight=1)')
  return VGG19Features(last=last), params_from_torch(torch_pickle.load(path),
                                                     last)


def feature_loss(module, variables, output, target,
                 scale: float = SRGAN_FEATURE_SCALE):
  """Mean squared distance of the rescaled VGG feature maps (eq. 5)."""
  f_out = module.apply(variables, output) * scale
  f_tgt = jax.lax.stop_gradient(module.apply(variables, target)) * scale
  return jnp.mean(jnp.square(f_out - f_tgt))
