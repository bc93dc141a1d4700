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
# (role, name) -> check(config, spec), raising errors.ConfigError when the
# network cannot take the data's shapes (a U-Net's sides, SRResNet's scale).
_CHECKS: dict[tuple[str, str], Callable] = {}


def register(role: str, *names: str, check: Callable | None = None):
  """Decorator: the builder serves `config.model.<role> = name`; `check`
  (config, spec) says, before anything is built, why the data does not fit."""

  def decorate(builder):
    for name in names:
      _TABLES[role][name] = builder
      if check is not None:
        _CHECKS[role, name] = check
    return builder

  return decorate


def check(role: str, name: str, config, spec):
  """Raises errors.ConfigError, naming the fix, where the `role` network
  called `name` cannot take `spec`'s shapes."""
  fn = _CHECKS.get((role, name))
  if fn is not None:
    fn(config, spec)


def build(role: str, name: str, *args, **kwargs):
  """The `role` network called `name`, built by its registered builder."""
  table = _TABLES[role]
  if name not in table:
    raise errors.ConfigError(
        f'unknown config.model.{role} {name!r}: use one of {sorted(table)}')
  return table[name](*args, **kwargs)


def names(role: str) -> list[str]:
  return sorted(_TABLES[role])
