"""The training loop: the same for every family.

`Trainer` compiles a family's iteration (`Family.update`) for every device of
every process, jit over a Mesh with axis 'data' (the state replicated, the
batch sharded) or pmap where the family supports it, one iteration or
`steps_per_dispatch` of them per call, once per phase of a family whose
iteration changes during the run (`Family.phase`). `train_and_evaluate` drives it:
progress, logging, samples, evaluation with a best checkpoint, checkpoints
and exact resume, SIGTERM/SIGINT, the NaN guard and several processes. It
knows no family by name (`jaxgan.families`, docs/families.md).
"""

import math
import os
import signal
import threading
import weakref

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import errors
from jaxgan import families
from jaxgan import health
from jaxgan import networks
from jaxgan import workdir as workdirs
from jaxgan import writers
from jaxgan.networks import conv_forms

AXIS = 'data'


class NonFiniteError(errors.UserError, FloatingPointError):
  """Training produced a non-finite loss."""


class Trainer:
  """A family compiled for every device of every process, jit or pmap.

  `state` lives replicated on the devices; `step(batch)` runs one iteration
  on this process's slice of the global batch, a dict of named arrays whose
  batch axis is the family's `batch_axis` (the noise GAN's
  {'image': (n_critic, b, ...), 'label': (n_critic, b)}).
  """

  def __init__(self, config, spec, devices=None):
    """`spec`: the data's shapes (`data.spec`); `devices` defaults to every
    device (jit) or this process's (pmap)."""
    self.config = config
    self.parallelism = config.parallelism
    self.trace_count = 0
    family_cls = families.get(config.family)
    family_cls.validate(config)
    pmap = self.parallelism == 'pmap'
    self.devices = devices or (jax.local_devices() if pmap else jax.devices())
    num_devices = len(self.devices) * (jax.process_count() if pmap else 1)
    if config.train.batch_size % num_devices:
      raise errors.ConfigError(
          f'config.train.batch_size={config.train.batch_size} does not divide '
          f'by the {num_devices} devices: choose a multiple of {num_devices}.')
    if pmap:
      self.family = family_cls(config, spec, axis_name=AXIS)
    else:
      self.mesh = Mesh(np.array(self.devices), (AXIS,))
      self.replicated = NamedSharding(self.mesh, P())
      self.family = family_cls(
          config, spec, batch_sharding=NamedSharding(self.mesh, P(AXIS)))
    # Prediction never needs cross-device statistics.
    predictor = family_cls(config, spec) if pmap else self.family
    self._predict = jax.jit(predictor.predict, static_argnames='ema')
    self._inference_state = jax.jit(predictor.inference_state,
                                    static_argnames='ema')
    # (a weak reference to a training state, its inference state)
    self._ema_state = (lambda: None, None)

    # `phase` (static): the family's phase of the step (`Family.phase`);
    # one compilation per distinct phase, None for the families whose
    # iterations are all alike.
    def counted_iteration(state, batch, phase=None):
      self.trace_count += 1
      return self._update(phase)(state, batch)

    def counted_iterations(state, batches, phase=None):
      # Several iterations per dispatch: a scan over the steps' batches.
      self.trace_count += 1
      state, metrics = jax.lax.scan(self._update(phase), state, batches)
      last = jax.tree.map(lambda m: m[-1], metrics)
      last['finite'] = jnp.all(metrics['finite'])
      return state, last

    # The convolution forms are chosen on the first call (`_choose_forms`).
    self.conv_forms = None
    if pmap:
      self._step, self._steps = (
          jax.pmap(f, axis_name=AXIS, donate_argnums=(0,), devices=devices,
                   static_broadcasted_argnums=(2,))
          for f in (counted_iteration, counted_iterations))
    else:
      self._step, self._steps = (
          jax.jit(f, donate_argnums=(0,), static_argnums=(2,),
                  out_shardings=(self.replicated, self.replicated))
          for f in (counted_iteration, counted_iterations))

  def _update(self, phase):
    """The family's iteration (state, batch) -> (state, metrics) of a
    phase."""
    if phase is None:
      return self.family.update
    return lambda state, batch: self.family.update(state, batch, phase)

  def init_state(self):
    key = jax.random.key(self.config.seed + 1)
    if self.parallelism == 'pmap':
      return self.replicate(jax.jit(self.family.init)(key))
    # Created in place on every device of every process.
    return jax.jit(self.family.init, out_shardings=self.replicated)(key)

  def abstract_state(self):
    """Shapes, dtypes and target shardings of the state (for restoring)."""
    shapes = jax.eval_shape(self.family.init, jax.random.key(0))
    sharding = (jax.sharding.SingleDeviceSharding(self.devices[0])
                if self.parallelism == 'pmap' else self.replicated)
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        shapes)

  def place(self, state):
    """A state restored into `abstract_state()` -> ready for `step`."""
    return self.replicate(state) if self.parallelism == 'pmap' else state

  def checkpointable(self, state):
    """What to save: the global replicated arrays (jit) or a host copy."""
    if self.parallelism == 'pmap':
      return self.unreplicate(state)
    return state

  def replicate(self, state):
    if self.parallelism == 'pmap':
      # Device arrays as pmap returns them: numpy inputs would make the
      # first step trace a second time.
      n = len(self.devices)
      return jax.pmap(lambda x: x, AXIS, devices=self.devices)(jax.tree.map(
          lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)),
          state))
    return jax.device_put(state, self.replicated)

  def unreplicate(self, tree):
    """A host copy of replicated device values (state or metrics)."""
    if self.parallelism == 'pmap':
      # The first replica's own buffer, moved as it is: indexing (x[0])
      # runs an eager gather over the pmap devices, and that op aborted a
      # test worker (XLA CPU, 8 host devices) twice, in checkpoint saves.
      return jax.tree.map(
          lambda x: np.asarray(x.addressable_shards[0].data)[0]
          if isinstance(x, jax.Array) else np.asarray(x)[0], tree)
    return jax.device_get(tree)

  def on_one_device(self, tree):
    """This process's copy of a replicated state on one device (no host
    copy): what prediction runs on."""
    if self.parallelism == 'pmap':
      return jax.tree.map(lambda x: x[0], tree)
    return jax.tree.map(lambda x: x.addressable_shards[0].data, tree)

  def shard_batch(self, local_x: np.ndarray, lead: int = 1):
    """This process's slice of one batch array -> the step's input array.

    `lead`: how many axes come before the batch axis (the family's
    `batch_axis`, one more for the stacked steps of `steps`).
    """
    if self.parallelism == 'pmap':
      n = len(self.devices)
      x = local_x.reshape(local_x.shape[:lead] + (n, -1) +
                          local_x.shape[lead + 1:])
      return np.moveaxis(x, lead, 0)  # (devices, ..., b / devices, ...)
    sharding = NamedSharding(self.mesh, P(*[None] * lead, AXIS))
    return jax.make_array_from_process_local_data(sharding, local_x)

  def _inputs(self, local_batch: dict, lead: int) -> dict:
    return {k: self.shard_batch(np.asarray(v), lead)
            for k, v in local_batch.items()}

  def _choose_forms(self, state, batch, several: bool, phase=None):
    """Measures (or takes from the cache) the form of every convolution
    of the iteration, before it is first compiled (`conv_forms`)."""
    if self.conv_forms is not None:
      return
    update = self._update(phase)
    if several:
      update = lambda s, b: jax.lax.scan(self._update(phase), s, b)  # pylint: disable=unnecessary-lambda-assignment
    if self.parallelism == 'pmap':
      update = jax.pmap(update, axis_name=AXIS, devices=self.devices)
    self.conv_forms = conv_forms.prepare(update, state, batch,
                                         looped=several)
    report = self.conv_forms
    if report.sites:
      logging.info('Convolution forms: %s.', report.summary())
      for key, form in sorted(report.forms.items()):
        logging.info('  %s: %s', key, form)

  def step(self, state, local_batch: dict, phase=None):
    """One iteration on this process's rows of one batch; `phase`: the
    family's phase of the step (`Family.phase`)."""
    batch = self._inputs(local_batch, self.family.batch_axis)
    self._choose_forms(state, batch, several=False, phase=phase)
    return self._step(state, batch, phase)

  def steps(self, state, local_batches: list[dict], phase=None):
    """len(local_batches) iterations of one phase in one dispatch
    (`lax.scan`).

    Same result as calling `step` on each batch in turn; the metrics are the
    last iteration's, and 'finite' covers all of them.
    """
    stacked = {k: np.stack([b[k] for b in local_batches])
               for k in local_batches[0]}
    batches = self._inputs(stacked, self.family.batch_axis + 1)
    self._choose_forms(state, batches, several=True, phase=phase)
    return self._steps(state, batches, phase)

  def predict(self, state, inputs: dict, ema: bool = False):
    """`Family.predict` on host inputs (inference mode), on the host: an
    array, or a dict of them (the unpaired family's both directions). With
    `ema`, of `Family.inference_state`, computed once per state."""
    if not ema:
      return jax.tree.map(np.asarray, self._predict(
          self.on_one_device(state), inputs, ema=False))
    if self._ema_state[0]() is not state:
      self._ema_state = (weakref.ref(state), self._inference_state(
          self.on_one_device(state), ema=True))
    return jax.tree.map(np.asarray, self._predict(
        self._ema_state[1], inputs, ema=True))


class _BestCheckpoint:
  """WORKDIR/checkpoints_best: the checkpoint with the best eval metric."""

  def __init__(self, workdir, metric: str, higher_is_better: bool = False):
    self.metric = metric
    self.sign = -1.0 if higher_is_better else 1.0
    self.ckpt = checkpoints.Checkpointer(
        checkpoints.checkpoint_dir(workdir, best=True), keep=1)
    step = self.ckpt.latest_step()
    self.value = (self.sign * self.ckpt.read_meta(step)['eval'].get(
        metric, self.sign * math.inf) if step is not None else math.inf)

  def offer(self, step, state, meta, scalars):
    value = self.sign * scalars.get(self.metric, self.sign * math.inf)
    if math.isfinite(value) and value < self.value:
      self.value = value
      self.ckpt.save(step, state, {**meta, 'eval': scalars})
      logging.info('Best %s so far (%.4g) at step %d: saved to %s',
                   self.metric, self.sign * value, step,
                   self.ckpt.path(step))

  def close(self):
    self.ckpt.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       devices=None, restart: bool = False):
  """Trains the run that `config` describes, writing into `workdir`.

  Resumes from the workdir's latest good checkpoint. SIGTERM or SIGINT ends
  the run after the current step with a checkpoint. `devices` (default: all)
  restricts training to some devices. `restart`: start again at step 0 in a
  workdir that holds an earlier run, its records moved to
  WORKDIR/restarted-N/ first. Every check (config values, data, the
  workdir's lock, its checkpoints) passes before the run writes anything
  into the workdir. Returns the final state.
  """
  workdir = os.fspath(workdir)
  family_cls = families.get(families.of(config))
  config_lib.check_keys(config)
  config_lib.validate_values(config)
  family_cls.validate(config)
  workdirs.check_usable(workdir)
  data = family_cls.create_data(config)
  logging.info('Data: %s', data.describe())
  family_cls.resolve(config, data)
  trainer = Trainer(config, data.spec, devices)
  with workdirs.lock(workdir, enabled=jax.process_index() == 0):
    if restart and jax.process_index() == 0:
      workdirs.archive(workdir)
    if restart and jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices('restart archived')
    ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                    keep=config.keep_checkpoints)
    try:
      state = _initial_state(config, workdir, trainer, ckpt)
      return _train(config, workdir, data, trainer, ckpt, state)
    finally:
      ckpt.close()  # Every started save finishes before the process exits.


def _check_resumable(config, restored: checkpoints.Restored, family):
  """Refuses a resume of another family, or one whose config changes the
  data order of the run."""
  saved = restored.meta.get('config', {})
  saved_family = families.of(saved)
  if saved_family != family.name:
    raise checkpoints.CheckpointMismatchError(
        f'{restored.path} holds a run of the {saved_family!r} family, and '
        f'the config trains the {family.name!r} family: use a new --workdir.')
  changed = []
  for name in family.data_order_keys:
    section, key = name.split('.')
    before = saved.get(section, {}).get(key)
    now = config[section][key]
    # Saved as JSON: tuples come back as lists.
    now = list(now) if isinstance(now, tuple) else now
    if before is not None and before != now:
      changed.append(f'config.{name} {before} -> {config[section][key]}')
  if changed:
    raise errors.ConfigError(
        f'{restored.path} was trained with other data-order settings '
        f'({"; ".join(changed)}). Batches are a function of (seed, step, '
        'batch size), so resuming with them changed would not continue the '
        'run: it would revisit and skip examples, and the result would '
        'match neither run. Resume with the saved values, or start a new run '
        'from these weights with --config.init_from=WORKDIR and a new '
        '--workdir.')


def _saved_family(ckpt) -> str | None:
  """The family of the workdir's newest checkpoint whose meta reads."""
  for step in reversed(ckpt.all_steps()):
    try:
      return families.of(ckpt.read_meta(step).get('config', {}))
    except Exception:  # pylint: disable=broad-except
      continue  # Unreadable: restore_latest_good moves it aside.
  return None


def _initial_state(config, workdir, trainer, ckpt):
  """The workdir's latest good checkpoint, else init_from, else fresh.

  A fresh start in a workdir holding an earlier run's records is refused
  (`workdirs.history`).
  """
  family = trainer.family
  saved_family = _saved_family(ckpt)
  if saved_family not in (None, family.name):
    raise checkpoints.CheckpointMismatchError(
        f'{ckpt.directory} holds a run of the {saved_family!r} family, and '
        f'the config trains the {family.name!r} family: use a new --workdir.')
  restored = ckpt.restore_latest_good(
      trainer.abstract_state(),
      'Refusing to resume this workdir with another model: use a new '
      '--workdir, or start a new run from this one\'s weights with '
      '--config.init_from=WORKDIR (same architecture, any optimizer).')
  if restored is not None:
    _check_resumable(config, restored, family)
    logging.info('Resuming from %s (step %d).', restored.path, restored.step)
    return trainer.place(restored.state)
  found = workdirs.history(workdir, ckpt.directory)
  if found:
    workdirs.refuse_fresh_start(workdir, found)
  state = trainer.init_state()
  if config.init_from:
    source = checkpoints.Checkpointer(
        checkpoints.checkpoint_dir(config.init_from), read_only=True)
    step = source.latest_step()
    if step is None:
      raise checkpoints.NoCheckpointError(
          f'config.init_from={config.init_from!r} holds no checkpoint in '
          f'{source.directory}')
    weights = source.restore_weights(step, trainer.abstract_state(),
                                     family.weights)
    logging.info('Starting from the weights of %s (step %d).',
                 source.path(step), step)
    if trainer.parallelism == 'pmap':
      state = trainer.replicate(trainer.unreplicate(state).replace(**weights))
    else:
      state = state.replace(**weights)
  return state


def parameter_counts(family, state) -> dict[str, int]:
  """{network: number of parameters} of a (host or device) state."""
  return {name: networks.count_parameters(params)
          for name, params in family.networks(state).items()}


def _train(config, workdir, data, trainer, ckpt, state):
  family = trainer.family
  first_process = jax.process_index() == 0
  writer = writers.MetricWriter(workdir, enabled=first_process)
  writer.write_config(config)
  counts = parameter_counts(family, trainer.on_one_device(state))
  logging.info('Networks: %s', ', '.join(f'{k} {v:,} parameters'
                                         for k, v in counts.items()))
  writer.write_json('networks.json', counts)
  start_step = int(trainer.unreplicate(state.step))
  writer.drop_after(start_step)  # Records of steps the checkpoint lacks.
  num_steps = config.train.num_steps
  if start_step >= num_steps:
    logging.info('Nothing to do: the run is at step %d of %d.', start_step,
                 num_steps)
    writer.close()
    return state
  sample_inputs = family.sample_inputs(data, config.num_samples)
  batches = family.batches(data, start_step)
  progress = writers.Progress(start_step, num_steps, enabled=first_process)
  monitor = health.HealthMonitor(config.health, family.health_advice)
  saved_step = start_step
  evaluator = best = None
  if config.eval_every:
    evaluator = family.evaluator(data, workdir, write=first_process)
    if evaluator is not None:
      best = _BestCheckpoint(workdir, evaluator.primary,
                             evaluator.higher_is_better)

  def meta(step):
    return checkpoints.make_meta(step, config, data, family)

  def save(step):
    nonlocal saved_step
    ckpt.save(step, trainer.checkpointable(state), meta(step))
    saved_step = step

  def predict(inputs, ema=False):
    return trainer.predict(state, inputs, ema)

  def run_eval(step):
    scalars = evaluator.evaluate(step, predict)
    writer.write_scalars(step, scalars)
    logging.info('Eval at step %d: %s', step, ', '.join(
        f'{k.removeprefix("eval/")}={v:.4g}' for k, v in scalars.items()))
    best.offer(step, trainer.checkpointable(state), meta(step), scalars)

  def check(step, metrics):
    try:
      return _check_finite(trainer, step, metrics)
    except NonFiniteError as e:
      ckpt.wait()
      last = ckpt.latest_step()
      where = (f'The last good checkpoint is {ckpt.path(last)} (step {last});'
               ' the same command resumes from it.' if last is not None else
               'No checkpoint was written before it.')
      raise NonFiniteError(f'{e} {where}') from None

  # Between log steps the host reads one boolean per dispatch, one dispatch
  # late, so the device is never waiting on it; the full metrics only at log
  # and checkpoint steps (a checkpoint is only written of a finite step).
  # Each dispatch runs k = config.train.steps_per_dispatch iterations (one
  # when fewer are left or the run resumed off the k grid); an event (log,
  # sample, eval, checkpoint) falls due when a dispatch crosses its multiple.
  k = config.train.steps_per_dispatch
  pending = None  # (step, metrics) of the previous dispatch.
  step = start_step
  with _StopRequests() as stop:
    try:
      while step < num_steps:
        # A dispatch never crosses the end of the step's phase.
        end = min(num_steps, family.phase_end(step) or num_steps)
        n = k if step % k == 0 and step + k <= end else 1
        phase = family.phase(step)
        if n == 1:
          state, metrics = trainer.step(state, next(batches), phase)
        else:
          state, metrics = trainer.steps(
              state, [next(batches) for _ in range(n)], phase)
        previous, step = step, step + n
        last = step == num_steps

        def due(every, previous=previous, step=step):
          return every > 0 and step // every > previous // every

        if (pending is not None and
            not trainer.unreplicate(pending[1]['finite'])):
          check(*pending)
        pending = (step, metrics)
        if previous == start_step:  # Compiled: show the losses, start the clock.
          progress.set_metrics(check(step, metrics))
          pending = None
          progress.first_done(step)
        progress.update(step)
        stopping = stop.requested(step)
        log = due(config.log_every) or last
        if log or due(config.checkpoint_every) or stopping:
          host_metrics = check(step, metrics)
          pending = None  # Already checked.
          if log:
            writer.write_scalars(step, host_metrics)
            progress.set_metrics(host_metrics)
            for name, message in monitor.update(step, host_metrics):
              logging.warning('%s', message)
              writer.write_warning(step, name, message)
        if due(config.sample_every) or last:
          outputs = trainer.predict(state, sample_inputs)
          if first_process:
            family.draw_samples(writer.sample_path(step), sample_inputs,
                                outputs, data)
        if evaluator and (due(config.eval_every) or last):
          run_eval(step)
        if due(config.checkpoint_every) or last:
          save(step)
        if stopping:
          if saved_step != step:
            save(step)
          ckpt.wait()
          progress.close()
          logging.info('Stopped by %s after step %d; checkpoint saved to %s. '
                       'Run the same command to resume.', stop.signal_name,
                       step, ckpt.path(step))
          break
      if pending is not None:
        check(*pending)
    finally:
      batches.close()  # Stops and joins the prefetching thread.
      progress.close()
      writer.close()
      if best:
        best.close()
  return state


class _StopRequests:
  """SIGTERM/SIGINT -> finish the step, checkpoint, exit 0.

  One process: the signals set a flag read after every step. Several
  processes: SIGTERM goes through JAX's preemption sync service (started by
  `jax.distributed.initialize`), so that all processes stop after the same
  step (`reached_preemption_sync_point`).
  """
  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.signal_name = None
    self._previous = {}
    self._multi = jax.process_count() > 1

  def __enter__(self):
    # Several processes keep Python's SIGINT (KeyboardInterrupt): one
    # process's Ctrl-C cannot stop the others at the same step.
    if (threading.current_thread() is threading.main_thread() and
        not self._multi):
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signal_name is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # A second Ctrl-C: stop now.
    self.signal_name = signal.Signals(signum).name
    logging.warning('%s received: finishing this step and saving a '
                    'checkpoint (Ctrl-C again to abort).', self.signal_name)

  def requested(self, step: int) -> bool:
    if self._multi:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      try:
        if multihost_utils.reached_preemption_sync_point(step):
          self.signal_name = self.signal_name or 'SIGTERM'
          return True
      except RuntimeError:  # The preemption service is disabled.
        pass
    return self.signal_name is not None

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


def _check_finite(trainer, step, metrics) -> dict[str, float]:
  """Host copy of the metrics; raises NonFiniteError naming the culprits."""
  host = {k: float(v) for k, v in trainer.unreplicate(metrics).items()}
  if not host.pop('finite'):
    bad = sorted(k for k, v in host.items() if not math.isfinite(v))
    raise NonFiniteError(
        f'non-finite {", ".join(bad)} at step {step} '
        f'({", ".join(f"{k}={host[k]}" for k in bad)}); training stopped. '
        'Lower the learning rates, or add a penalty (config.loss.penalty).')
  return host

