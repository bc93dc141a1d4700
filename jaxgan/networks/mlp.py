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
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    x = layers.latent_input(self, z, labels, self.num_classes, self.dtype)
    for features in self.hidden:
      x = nn.Dense(features, dtype=self.dtype)(x)
      if self.batch_norm:
        x = layers.batch_norm(train, self.axis_name, self.dtype)(x)
      x = nn.relu(x)
    x = nn.Dense(math.prod(self.sample_shape), dtype=self.dtype)(x)
    x = x.astype(jnp.float32).reshape((z.shape[0], *self.sample_shape))
    return jnp.tanh(x) if len(self.sample_shape) == 3 else x


class MLPDiscriminator(nn.Module):
  """image -> hidden (Dense, LeakyReLU 0.2)* -> one logit per example."""
  hidden: Sequence[int] = (512, 256, 128)
  num_classes: int = 0
  conditioning: str = 'none'
  aux_classes: int = 0
  info_categorical: int = 0
  info_continuous: int = 0
  # > 0: a minibatch-std feature over groups of this size (`minibatch_std`)
  # enters the last hidden layer (the score layer when there is none).
  minibatch_std: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del train  # No BatchNorm (minibatch_std aside, examples stay separate).
    y = layers.class_input(self, labels, self.num_classes)
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    if y is not None and self.conditioning == 'concat':
      x = jnp.concatenate([x, y.astype(self.dtype)], axis=-1)
    for i, features in enumerate(self.hidden):
      if self.minibatch_std and i == len(self.hidden) - 1:
        x = layers.minibatch_std(x, self.minibatch_std)
      x = nn.leaky_relu(nn.Dense(features, dtype=self.dtype)(x), 0.2)
    if self.minibatch_std and not self.hidden:
      x = layers.minibatch_std(x, self.minibatch_std)
    return layers.discriminator_heads(
        self, x, y, nn.initializers.lecun_normal(),
        embed_init=nn.initializers.lecun_normal(in_axis=-1, out_axis=-2))




@registry.register('generator', 'mlp')
def build_generator(config, sample_shape, axis_name=None, num_classes=0):
  """The noise GAN's MLP generator from `config.model` (g_hidden, ...)."""
  m = config.model
  return MLPGenerator(sample_shape, tuple(m.g_hidden), m.g_batch_norm,
                      axis_name=axis_name, num_classes=num_classes,
                      dtype=jnp.dtype(config.dtype))


@registry.register('discriminator', 'mlp')
def build_discriminator(config, sample_shape, axis_name=None, **heads):
  """The noise GAN's MLP discriminator (d_hidden, minibatch_std, heads)."""
  del sample_shape, axis_name  # Flat input; no BatchNorm.
  return MLPDiscriminator(tuple(config.model.d_hidden),
                          minibatch_std=config.model.minibatch_std,
                          dtype=jnp.dtype(config.dtype), **heads)
