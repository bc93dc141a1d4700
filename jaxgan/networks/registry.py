"""Networks by name: each architecture file registers its builders.

A builder turns a family's `config.model` (and what the family knows: the
data's shapes, the pmap axis, the compute dtype) into a Flax module. The
names are what configs write (`config.model.generator = 'dcgan'`,
`'unet_256'`, `config.model.discriminator = 'patchgan'`), in one table per
role, so a family looks a network up instead of branching on its name.
"""

from typing import Callable

from jaxgan import errors

GENERATORS: dict[str, Callable] = {}
DISCRIMINATORS: dict[str, Callable] = {}
_TABLES = {'generator': GENERATORS, 'discriminator': DISCRIMINATORS}


def register(role: str, *names: str):
  """Decorator: the builder serves `config.model.<role> = name`."""

  def decorate(builder):
    for name in names:
      _TABLES[role][name] = builder
    return builder

  return decorate


def build(role: str, name: str, *args, **kwargs):
  """The `role` network called `name`, built by its registered builder."""
  table = _TABLES[role]
  if name not in table:
    raise errors.ConfigError(
        f'unknown config.model.{role} {name!r}: use one of {sorted(table)}')
  return table[name](*args, **kwargs)


def names(role: str) -> list[str]:
  return sorted(_TABLES[role])
