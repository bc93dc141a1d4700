"""Orbax checkpoints of a run: save, resume exactly, and never lose one.

A run keeps one `ocp.CheckpointManager` in `WORKDIR/checkpoints/`. Each step
directory holds two items:

  state: the family's whole state (the noise GAN's `GANState`: both
         networks' parameters and BatchNorm statistics, both optimizer
         states, the generator EMA and the step), as a nested dict of arrays
         (`flax.serialization.to_state_dict`);
  meta:  JSON: the step, the data position, the family, the data's shapes
         and name, the device count that wrote it, and the full config.

Data order and noise are functions of (seed, step) (`input_pipeline`), so the
step is the data position and a resumed run continues exactly where the
stopped one was. Saving is asynchronous (Orbax copies the arrays to host
memory, then writes in a background thread); Orbax writes into a temporary
directory and renames it when complete, so a process killed mid-save leaves
the previous checkpoints intact and the next start ignores the partial one.
A finished checkpoint that cannot be read is moved aside (never deleted) and
the newest readable one is used instead.
"""

import dataclasses
import json
import logging as std_logging
import os
from typing import Any

from absl import logging
from etils import epath
import flax
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import errors
from jaxgan import families

STATE = 'state'
META = 'meta'


class CheckpointMismatchError(errors.UserError, ValueError):
  """A checkpoint holds a model other than the one the config builds."""


class NoCheckpointError(errors.UserError, FileNotFoundError):
  """A directory that should hold checkpoints holds none that can be read."""


class UnreadableCheckpointError(OSError):
  """A finished checkpoint whose files cannot be read (moved aside)."""


@dataclasses.dataclass
class Restored:
  step: int
  state: Any
  meta: dict
  path: str


def checkpoint_dir(workdir: str, best: bool = False) -> str:
  """WORKDIR/checkpoints (or checkpoints_best, the best-FID one), absolute
  (Orbax wants it), local or gs://."""
  workdir = os.fspath(workdir)
  if '://' not in workdir:
    workdir = os.path.abspath(workdir)
  return workdir.rstrip('/') + ('/checkpoints_best' if best else '/checkpoints')


def make_meta(step: int, config: ml_collections.ConfigDict, data,
              family) -> dict:
  """The JSON beside a checkpoint: step, data position, data, config."""
  return {
      'step': int(step),
      # Batches are a function of (seed, step): the step is the position.
      'data_position': {'step': int(step),
                        'examples_seen': family.examples_seen(int(step))},
      'family': family.name,
      **data.meta(),
      'device_count': jax.device_count(),
      'process_count': jax.process_count(),
      'config': json.loads(config.to_json_best_effort()),
  }


def config_from_meta(meta: dict) -> ml_collections.ConfigDict:
  """The run's config as saved (tuples come back as lists; both work).

  Fields added to jaxgan after the run was saved take their defaults, which
  keep the behaviour the run had; a run saved before families existed is a
  noise GAN ('gan').
  """
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  saved = dict(meta['config'])
  saved['family'] = families.of(saved)
  config = config_lib.default_config(saved['family'])
  config.update(saved)
  return config


def _flat_shapes(tree) -> dict[str, tuple]:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path, simple=True, separator='/'):
          tuple(leaf.shape) for path, leaf in flat}


def _networks(shapes: dict[str, tuple]) -> dict[str, tuple]:
  """The entries of the networks' own parameters and statistics (not the
  optimizer states or the EMA, which differ the same way)."""
  skip = ('step', 'ema_params/')
  return {k: v for k, v in shapes.items()
          if '_opt_state' not in k and not k.startswith(skip)}


def describe_mismatch(saved: dict[str, tuple], wanted: dict[str, tuple],
                      limit: int = 8) -> list[str]:
  """Human-readable differences between two {name: shape} maps."""
  lines = []
  for name in sorted(set(saved) | set(wanted)):
    if name not in wanted:
      lines.append(f'{name}: in the checkpoint {saved[name]}, not in the '
                   'model')
    elif name not in saved:
      lines.append(f'{name}: in the model {wanted[name]}, not in the '
                   'checkpoint')
    elif saved[name] != wanted[name]:
      lines.append(f'{name}: checkpoint {saved[name]} vs model '
                   f'{wanted[name]}')
  if len(lines) > limit:
    lines = lines[:limit] + [f'... and {len(lines) - limit} more']
  return lines


class Checkpointer:
  """The run's CheckpointManager, with fallbacks and clear errors."""

  def __init__(self, directory: str, keep: int | None = None,
               read_only: bool = False):
    self.directory = os.fspath(directory)
    if read_only:  # The options Orbax would otherwise reset with a warning.
      options = ocp.CheckpointManagerOptions(
          read_only=True, create=False, save_interval_steps=0,
          cleanup_tmp_directories=False)
    else:
      options = ocp.CheckpointManagerOptions(
          max_to_keep=keep, create=True, enable_async_checkpointing=True,
          cleanup_tmp_directories=True)
    absl_logger = logging.get_absl_logger()
    level = absl_logger.level
    if read_only:  # Orbax warns that a read-only manager is read-only.
      absl_logger.setLevel(std_logging.ERROR)
    try:
      self.manager = ocp.CheckpointManager(
          self.directory, options=options,
          item_handlers={STATE: ocp.StandardCheckpointHandler(),
                         META: ocp.JsonCheckpointHandler()})
    finally:
      absl_logger.setLevel(level)

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def path(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, step: int, state, meta: dict):
    """Starts an asynchronous save; `wait()` for it to be on disk."""
    state_dict = flax.serialization.to_state_dict(state)
    self.manager.save(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardSave(state_dict),
           META: ocp.args.JsonSave(meta)}), force=True)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()

  def read_meta(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(
        **{META: ocp.args.JsonRestore()}))[META]

  def saved_shapes(self, step: int) -> dict[str, tuple]:
    """{name: shape} of the saved state; UnreadableCheckpointError when its
    metadata is gone (Orbax then reports no arrays at all)."""
    return _flat_shapes(self._state_tree(step))

  def _state_tree(self, step: int):
    metadata = self.manager.item_metadata(step)[STATE]
    tree = getattr(metadata, 'tree', metadata)
    if tree is None or not jax.tree.leaves(tree):
      raise UnreadableCheckpointError(
          f'{self.path(step)}/{STATE} has no readable array metadata '
          '(_METADATA missing or empty)')
    return tree

  def check_compatible(self, step: int, target, hint: str, saved=None):
    """Raises CheckpointMismatchError naming parameters whose shapes differ.

    The networks' own parameters are listed (their optimizer states and EMA
    differ the same way); `hint` says what to do instead.
    """
    saved = self.saved_shapes(step) if saved is None else saved
    wanted = _flat_shapes(flax.serialization.to_state_dict(target))
    mismatch = describe_mismatch(_networks(saved), _networks(wanted))
    if not mismatch:
      mismatch = describe_mismatch(saved, wanted)
    if mismatch:
      raise CheckpointMismatchError(
          f'{self.path(step)} holds a different model than the config '
          'builds:\n  ' + '\n  '.join(mismatch) + f'\n{hint}')

  def restore(self, step: int, target) -> Restored:
    """Restores `step` into the structure and shardings of `target`.

    `target` is an abstract GANState (jax.ShapeDtypeStruct leaves with
    shardings, e.g. from `jax.eval_shape`), so a checkpoint written on any
    number of devices restores onto this machine's.
    """
    abstract = flax.serialization.to_state_dict(target)
    restored = self.manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore(abstract),
           META: ocp.args.JsonRestore()}))
    state = flax.serialization.from_state_dict(target, restored[STATE])
    return Restored(step, state, restored[META], self.path(step))

  def restore_raw(self, step: int, sharding) -> dict:
    """The saved state as a nested dict, every array placed by `sharding`."""
    tree = self._state_tree(step)
    abstract = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding),
        tree)
    return self.manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore(abstract)}))[STATE]

  def restore_weights(self, step: int, target, weights) -> dict:
    """The state fields `weights` of `step` (the networks, not the
    optimizers), shaped like those of `target`.

    For starting a new run from another run's weights: the optimizers may
    differ, the networks must not.
    """
    leaf = jax.tree.leaves(target)[0]
    raw = self.restore_raw(step, leaf.sharding)
    wanted = {name: getattr(target, name) for name in weights}
    saved = {name: raw.get(name, {}) for name in weights}
    mismatch = describe_mismatch(
        _flat_shapes(saved), _flat_shapes(
            flax.serialization.to_state_dict(wanted)))
    if mismatch:
      raise CheckpointMismatchError(
          f'config.init_from: {self.path(step)} holds a different model than '
          'the config builds:\n  ' + '\n  '.join(mismatch) + '\nStart from '
          'a run of the same architecture.')
    return {name: flax.serialization.from_state_dict(wanted[name],
                                                     saved[name])
            for name in weights}

  def restore_latest_good(self, target, hint: str) -> Restored | None:
    """The newest readable checkpoint, moving unreadable ones aside.

    Returns None when there is no checkpoint at all. A model mismatch is not
    corruption: it raises at once (every checkpoint of the run has it).
    """
    steps = self.all_steps()
    for step in reversed(steps):
      try:
        saved = self.saved_shapes(step)
      except Exception as e:  # pylint: disable=broad-except
        self._quarantine(step, e)
        continue
      self.check_compatible(step, target, hint, saved)
      try:
        return self.restore(step, target)
      except Exception as e:  # pylint: disable=broad-except
        self._quarantine(step, e)
    if steps:
      raise NoCheckpointError(
          f'none of the checkpoints in {self.directory} could be read (each '
          'was moved aside as corrupt-STEP); start a new run with another '
          '--workdir.')
    return None

  def _quarantine(self, step: int, error: Exception):
    source = self.path(step)
    target = os.path.join(self.directory, f'corrupt-{step}')
    logging.warning('Checkpoint %s is unreadable (%s: %s); moving it to %s '
                    'and trying the previous one.', source,
                    type(error).__name__, str(error).splitlines()[0][:300],
                    target)
    if jax.process_index() == 0:
      epath.Path(source).rename(target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f'quarantine {step}')
    self.manager.reload()


@dataclasses.dataclass
class SavedRun:
  """A run's checkpoint as the tools read it: no dataset, no config file."""
  step: int
  meta: dict
  config: ml_collections.ConfigDict
  raw: dict  # The saved state, a nested dict of arrays on one device.


def read_run(workdir: str, step: int | None = None, best: bool = False,
             family: str | tuple[str, ...] = families.DEFAULT,
             other_tool: str = '') -> SavedRun:
  """Step `step` (default: the latest) of `workdir`'s checkpoints (`best`:
  checkpoints_best), refused unless it is a run of `family` (or of one of
  a tuple of them; `other_tool` says what reads the other families)."""
  wanted = (family,) if isinstance(family, str) else tuple(family)
  ckpt = Checkpointer(checkpoint_dir(workdir, best), read_only=True)
  try:
    steps = ckpt.all_steps()
    if not steps and best:
      raise NoCheckpointError(
          f'{ckpt.directory} holds no checkpoint: best checkpoints are kept '
          'only by runs that evaluate during training (config.eval_every > '
          '0, e.g. --config.eval_every=1000). Drop --best to use the latest '
          'checkpoint.')
    if not steps:
      raise NoCheckpointError(
          f'{ckpt.directory} holds no checkpoint: train first with '
          f'python -m jaxgan.main --workdir={workdir} ...')
    step = steps[-1] if step is None else step
    if step not in steps:
      raise errors.ConfigError(f'{workdir} has no checkpoint of step {step}; '
                               f'it has steps {steps}.')
    meta = ckpt.read_meta(step)
    config = config_from_meta(meta)
    if config.family not in wanted:
      raise errors.ConfigError(
          f'{workdir} holds a {config.family!r} run, not a '
          f'{" or ".join(repr(f) for f in wanted)} one: {other_tool}')
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return SavedRun(step, meta, config, ckpt.restore_raw(step, device))
  finally:
    ckpt.close()


def host_state(tree):
  """Plain numpy copy of a (replicated) state, for tools and tests."""
  return jax.tree.map(np.asarray, jax.device_get(tree))
