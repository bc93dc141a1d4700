"""What a family is: one training shape, and everything the loop asks of it.

The training loop (`jaxgan.train`) knows no family by name. It builds the
family that `config.family` names (`jaxgan.families.get`) and asks it, in
this order:

  add_config(config)            its config fields (default_config)
  validate(config)              the family's own compatibility checks
  create_data(config)           its data: batches as dicts of named arrays,
                                pure functions of (seed, step)
  resolve(config, data)         config fields that follow from the data
  Family(config, data.spec,     the networks, optimizers and losses
         axis_name, sharding)
  init(key) -> state            one pytree (a flax.struct dataclass)
  update(state, batch)          one training iteration, pure and compiled
      -> (state, metrics)       once (once per `phase`, called with it as
                                a third argument): metrics is a flat dict
                                of scalars
  batches(data, start_step)     this process's rows of every batch
  predict(state, inputs, ema)   what the generator makes of inputs (pure)
  sample_inputs(data, num), draw_samples(path, inputs, outputs, data)
                                the fixed grid written every sample_every
  networks(state)               {name: parameters}, for networks.json
  evaluator(data, workdir)      metrics during training (eval_every), with
                                `primary` and `higher_is_better`

and, for `python -m jaxgan.export`, the classmethod servable(workdir, ...)
-> Servable: the trained generator as one pure function of named arrays.

and the class attributes below. The loop does the rest for every family:
progress, logging, signals and preemption, checkpoints and exact resume,
the best checkpoint, the NaN guard, jit over the mesh (pmap where the family
supports it), steps_per_dispatch and several processes.
"""

import abc
import dataclasses
import inspect
from typing import Any, Callable, ClassVar

import ml_collections
import optax

from jaxgan import errors


@dataclasses.dataclass
class Servable:
  """A run's generator for export: `fn(*arrays)` -> images in [-1, 1]
  (B, H, W, C), inference mode (eval BatchNorm, no dropout), its inputs
  in order as {'name', 'shape' (without the batch), 'dtype', 'range' or
  'classes'}, its weights (the card's checksum), and what the model card
  says of it besides."""
  fn: Callable
  inputs: list[dict]
  output: dict
  weights: Any
  card: dict


class Family(abc.ABC):
  """Base class of the families; see the module docstring. The abstract
  methods are what every family must define."""
  name: ClassVar[str] = ''
  # Axis of the batch in every array of a batch (the noise GAN's batches are
  # (n_critic, B, ...): axis 1).
  batch_axis: ClassVar[int] = 0
  parallelisms: ClassVar[tuple[str, ...]] = ('jit',)
  # Config fields that fix the data order: a resume that changes one is
  # refused (batches are functions of (seed, step) through them).
  data_order_keys: ClassVar[tuple[str, ...]] = ('train.batch_size',)
  # State fields that `config.init_from` carries into a new run.
  weights: ClassVar[tuple[str, ...]] = ()
  # What a training-health warning suggests, in this family's config keys
  # (jaxgan/health.py; the defaults there for warnings not named).
  health_advice: ClassVar[dict[str, str]] = {}

  @classmethod
  @abc.abstractmethod
  def add_config(cls, config: ml_collections.ConfigDict):
    """Adds the family's config fields and defaults to the shared ones:
    its 'model' and 'loss' sections and its keys in 'data', 'train' and
    'eval'."""

  @classmethod
  def validate(cls, config: ml_collections.ConfigDict):
    """Raises errors.ConfigError for options that cannot work together."""
    if config.parallelism not in cls.parallelisms:
      raise errors.ConfigError(
          f'config.parallelism={config.parallelism!r}: the {cls.name!r} '
          f'family runs with {" or ".join(repr(p) for p in cls.parallelisms)}')

  @classmethod
  @abc.abstractmethod
  def create_data(cls, config):
    """The family's data: `spec`, `describe()`, `meta()` and its batches."""

  @classmethod
  def resolve(cls, config, data):
    """Sets config fields that follow from the data (default: none)."""

  def __init__(self, config, spec, axis_name=None, batch_sharding=None):
    self.config = config
    self.spec = spec
    self.axis_name = axis_name
    self.batch_sharding = batch_sharding

  @property
  def examples_per_step(self) -> int:
    """Training examples one iteration reads (the data position's unit)."""
    return self.config.train.batch_size

  def examples_seen(self, step: int) -> int:
    """Training examples read before `step` (the checkpoint's data
    position)."""
    return step * self.examples_per_step

  def phase(self, step: int):
    """The static part of the iteration at `step`: a hashable value, or None
    when every iteration is alike. The loop compiles `update` once per
    distinct phase and calls it as `update(state, batch, phase)`
    (progressive growing: the resolution and whether it fades in)."""
    del step
    return None

  def phase_end(self, step: int) -> int | None:
    """The first step of the phase after `step`'s (None: no end before the
    run's): a dispatch of several steps never crosses it."""
    del step
    return None

  @abc.abstractmethod
  def init(self, key) -> Any:
    """The initial state, one pytree."""

  @abc.abstractmethod
  def update(self, state, batch: dict) -> tuple[Any, dict]:
    """One pure training iteration -> (state, flat scalar metrics)."""

  @abc.abstractmethod
  def batches(self, data, start_step: int):
    """This process's batches from `start_step` on."""

  @abc.abstractmethod
  def predict(self, state, inputs: dict, ema: bool = False):
    """What the generator makes of `inputs` (inference mode)."""

  def inference_state(self, state, ema: bool = False):
    """The state `predict(state, inputs, ema)` is given: computed once per
    state (pure), reused over many predict calls. The state itself here; the
    GAN family gives an EMA generator BatchNorm statistics of its own."""
    del ema
    return state

  @abc.abstractmethod
  def sample_inputs(self, data, num: int) -> dict:
    """The fixed inputs of the sample grid."""

  @abc.abstractmethod
  def draw_samples(self, path: str, inputs: dict, outputs, data):
    """Writes the sample grid to `path`."""

  @abc.abstractmethod
  def networks(self, state) -> dict[str, Any]:
    """{network name: its parameters}."""

  @classmethod
  def servable(cls, workdir: str, step: int | None = None,
               best: bool = False, ema: bool = False,
               direction: str | None = None) -> Servable:
    """The generator of `workdir`'s checkpoint, for export."""
    del workdir, step, best, ema, direction
    raise errors.ConfigError(
        f'python -m jaxgan.export writes image generators (the gan, paired, '
        f'unpaired and progressive families); a {cls.name!r} run has none '
        'to export')

  def evaluator(self, data, workdir: str, write: bool = True):
    """An evaluator for config.eval_every, or None when the family has none:
    `primary` (a metric name), `higher_is_better`, and
    `evaluate(step, predict) -> {name: value}`."""
    return None


def make_optimizer(spec: ml_collections.ConfigDict,
                   differentiable: bool = False,
                   schedule=None) -> optax.GradientTransformation:
  """optax.<spec.name>(**rest of spec).

  `schedule` (step -> factor) multiplies the learning rate (pix2pix's linear
  decay). differentiable=True is for optimizer steps that are themselves
  differentiated (the unrolled critic): Adam-like optimizers get
  eps_root=1e-8 unless set, so that the square root of the second moment has
  a finite derivative where a gradient entry is exactly 0 (optax's advice
  for differentiating through Adam). The optimizer state is the same.
  """
  kwargs = dict(spec)
  name = kwargs.pop('name')
  if not hasattr(optax, name):
    raise errors.ConfigError(f'unknown optimizer optax.{name}: use the name '
                             'of an optax optimizer (adam, rmsprop, sgd, ...)')
  factory = getattr(optax, name)
  if (differentiable and 'eps_root' in inspect.signature(factory).parameters
      and not kwargs.get('eps_root')):
    kwargs['eps_root'] = 1e-8
  if schedule is not None:
    rate = kwargs['learning_rate']
    kwargs['learning_rate'] = lambda step: rate * schedule(step)
  return factory(**kwargs)
