"""Generators and discriminators, as Flax Linen modules used purely, one file
per architecture family, each registered by name (`registry`)."""

import jax

# Importing the architecture files registers their builders.
from jaxgan.networks import context_encoder  # pylint: disable=unused-import
from jaxgan.networks import dcgan  # pylint: disable=unused-import
from jaxgan.networks import mlp  # pylint: disable=unused-import
from jaxgan.networks import patchgan  # pylint: disable=unused-import
from jaxgan.networks import progan  # pylint: disable=unused-import
from jaxgan.networks import resnet_generator  # pylint: disable=unused-import
from jaxgan.networks import sngan  # pylint: disable=unused-import
from jaxgan.networks import srresnet  # pylint: disable=unused-import
from jaxgan.networks import unet  # pylint: disable=unused-import
from jaxgan.networks.registry import build
from jaxgan.networks.registry import check
from jaxgan.networks.registry import names


def count_parameters(params) -> int:
  """Number of scalars in a parameter pytree."""
  return int(sum(leaf.size for leaf in jax.tree.leaves(params)))


def module_parameters(module, *shape) -> int:
  """Parameters of a Flax module (called as module(x, train=...)) built for
  inputs of `shape`, counted from shapes alone (nothing is computed)."""
  variables = jax.eval_shape(
      lambda key, x: module.init(key, x, train=False), jax.random.key(0),
      jax.ShapeDtypeStruct(shape, jax.numpy.float32))
  return count_parameters(variables['params'])


__all__ = ['build', 'check', 'names', 'count_parameters', 'module_parameters']
