"""MLP generator and discriminator (Goodfellow et al. 2014's fully connected
nets; 128-128 for the 2D mixtures of the mode-collapse lab)."""

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.networks import layers
from jaxgan.networks import registry


class MLPGenerator(nn.Module):
  """z -> hidden (Dense, [BatchNorm], ReLU)* -> sample.

  Images (`sample_shape` (H, W, C)) end in tanh; points (`sample_shape` (D,),
  the 2D mixtures) are unbounded and end linear.
  """
  sample_shape: Sequence[int]
  hidden: Sequence[int] = (128, 256, 512, 1024)
  batch_norm: bool = True
  axis_name: str | None = None
  num_classes: int = 0
  # False: hidden layers without bias (PacGAN's, before BatchNorm).
  hidden_bias: bool = True
  # > 0: weights N(0, init_std^2), biases 0 (PacGAN's code); 0: Flax's.
  init_std: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    x = layers.latent_input(self, z, labels, self.num_classes, self.dtype)
    init = _init(self.init_std)
    for features in self.hidden:
      x = nn.Dense(features, use_bias=self.hidden_bias, dtype=self.dtype,
                   **init)(x)
      if self.batch_norm:
        x = layers.batch_norm(train, self.axis_name, self.dtype)(x)
      x = nn.relu(x)
    x = nn.Dense(math.prod(self.sample_shape), dtype=self.dtype, **init)(x)
    x = x.astype(jnp.float32).reshape((z.shape[0], *self.sample_shape))
    return jnp.tanh(x) if len(self.sample_shape) == 3 else x


def _init(std: float) -> dict:
  """Dense initialisers: N(0, std^2) weights and zero biases, or Flax's."""
  if not std:
    return {}
  return {'kernel_init': nn.initializers.normal(std),
          'bias_init': nn.initializers.zeros}


ACTIVATIONS = {'leaky_relu': lambda x: nn.leaky_relu(x, 0.2),
               'relu': nn.relu}


class MLPDiscriminator(nn.Module):
  """image -> hidden (Dense, activation)* -> one logit per example.

  `activation`: 'leaky_relu' (0.2), 'relu' (Gulrajani et al.'s toy critic),
  or with `maxout` = k > 0, maxout units: each hidden unit the maximum of k
  linear pieces (Goodfellow et al. 2013; PacGAN's 200 x 5).
  """
  hidden: Sequence[int] = (512, 256, 128)
  num_classes: int = 0
  conditioning: str = 'none'
  aux_classes: int = 0
  info_categorical: int = 0
  info_continuous: int = 0
  # > 0: a minibatch-std feature over groups of this size (`minibatch_std`)
  # enters the last hidden layer (the score layer when there is none).
  minibatch_std: int = 0
  activation: str = 'leaky_relu'
  maxout: int = 0
  init_std: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del train  # No BatchNorm (minibatch_std aside, examples stay separate).
    init = _init(self.init_std)
    y = layers.class_input(self, labels, self.num_classes)
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    if y is not None and self.conditioning == 'concat':
      x = jnp.concatenate([x, y.astype(self.dtype)], axis=-1)
    for i, features in enumerate(self.hidden):
      if self.minibatch_std and i == len(self.hidden) - 1:
        x = layers.minibatch_std(x, self.minibatch_std)
      if self.maxout:
        pieces = nn.Dense(features * self.maxout, dtype=self.dtype,
                          **init)(x)
        x = jnp.max(pieces.reshape(x.shape[0], features, self.maxout), -1)
      else:
        x = ACTIVATIONS[self.activation](
            nn.Dense(features, dtype=self.dtype, **init)(x))
    if self.minibatch_std and not self.hidden:
      x = layers.minibatch_std(x, self.minibatch_std)
    score_init = (nn.initializers.normal(self.init_std) if self.init_std else
                  nn.initializers.lecun_normal())
    return layers.discriminator_heads(
        self, x, y, score_init,
        embed_init=nn.initializers.lecun_normal(in_axis=-1, out_axis=-2))




@registry.register('generator', 'mlp')
def build_generator(config, sample_shape, axis_name=None, num_classes=0):
  """The noise GAN's MLP generator from `config.model` (g_hidden, ...)."""
  m = config.model
  return MLPGenerator(sample_shape, tuple(m.g_hidden), m.g_batch_norm,
                      axis_name=axis_name, num_classes=num_classes,
                      hidden_bias=m.g_hidden_bias, init_std=m.init_std,
                      dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'mlp')
def build_discriminator(config, sample_shape, axis_name=None, **heads):
  """The noise GAN's MLP discriminator (d_hidden, minibatch_std, heads)."""
  del sample_shape, axis_name  # Flat input; no BatchNorm.
  m = config.model
  if m.d_activation not in ACTIVATIONS:
    raise ValueError(f'config.model.d_activation={m.d_activation!r}: one of '
                     f'{sorted(ACTIVATIONS)}')
  return MLPDiscriminator(tuple(m.d_hidden), minibatch_std=m.minibatch_std,
                          activation=m.d_activation, maxout=m.d_maxout,
                          init_std=m.init_std, dtype=jnp.dtype(config.dtype),
                          **heads)
