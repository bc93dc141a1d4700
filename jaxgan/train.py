"""The GAN training library: state, the compiled iteration, and the loop.

`make_iteration` builds one pure function that runs a whole GAN iteration
(n_critic critic updates, one generator update, EMA) and `train_and_evaluate`
drives it. Parallelism is data parallel: under 'jit' the state is replicated
over a Mesh with axis 'data' and the batch and noise are sharded on it; under
'pmap' the same function runs per device with gradients averaged by
`lax.pmean` and cross-replica BatchNorm statistics.
"""

import functools
import inspect
import math
import os
import signal
import threading
from typing import Any

from absl import logging
import flax
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
import optax

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import errors
from jaxgan import evaluate
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan import models
from jaxgan import workdir as workdirs
from jaxgan import writers

AXIS = 'data'


@flax.struct.dataclass
class GANState:
  """Everything a GAN iteration reads and writes, as one pytree."""
  step: jax.Array
  g_params: Any
  g_state: Any  # Generator BatchNorm statistics ({} when none).
  g_opt_state: Any
  d_params: Any
  d_state: Any
  d_opt_state: Any
  ema_params: Any  # EMA of g_params (a copy of them when ema_decay == 0).


class NonFiniteError(errors.UserError, FloatingPointError):
  """Training produced a non-finite loss."""


def validate_config(config: ml_collections.ConfigDict):
  """Rejects combinations that would train wrongly, naming the fix."""
  if config.loss.name not in losses.GAN_LOSSES:
    raise errors.ConfigError(f'unknown config.loss.name {config.loss.name!r}: use one '
                     f'of {sorted(losses.GAN_LOSSES)}')
  if config.loss.penalty not in losses.PENALTIES:
    raise errors.ConfigError(f'unknown config.loss.penalty {config.loss.penalty!r}: '
                     f'use one of {losses.PENALTIES}')
  if (config.loss.penalty != 'none' and models.uses_batch_norm(config)):
    raise errors.ConfigError(
        f'config.loss.penalty={config.loss.penalty!r} needs a critic whose '
        'outputs do not mix examples, but config.model.d_norm is "batch": set '
        "--config.model.d_norm=layer (or none).")
  if (config.loss.label_smoothing and
      not losses.GAN_LOSSES[config.loss.name].outputs_logits):
    raise errors.ConfigError('config.loss.label_smoothing applies to BCE losses only '
                     f'(minimax, non_saturating), not {config.loss.name!r}')
  if config.parallelism not in ('jit', 'pmap'):
    raise errors.ConfigError(f"config.parallelism must be 'jit' or 'pmap', not "
                     f'{config.parallelism!r}')
  if config.train.n_critic < 1:
    raise errors.ConfigError('config.train.n_critic must be at least 1')
  if config.train.steps_per_dispatch < 1:
    raise errors.ConfigError('config.train.steps_per_dispatch must be at least 1 '
                     '(1: one iteration per compiled call)')
  if min(config.model.info_categorical, config.model.info_continuous) < 0:
    raise errors.ConfigError('config.model.info_categorical and info_continuous count '
                     'codes: use 0 or more')
  pack = config.model.pack
  if pack < 1:
    raise errors.ConfigError('config.model.pack must be at least 1 (1: no packing)')
  if config.train.batch_size % pack:
    raise errors.ConfigError(f'config.train.batch_size ({config.train.batch_size}) '
                     f'must divide by config.model.pack ({pack}): the critic '
                     'sees batch_size / pack packed examples')
  if pack > 1 and (config.model.conditioning != 'none' or
                   config.model.aux_classifier or config.model.info_categorical
                   or config.model.info_continuous):
    raise errors.ConfigError('config.model.pack > 1 packs unlabelled examples; it '
                     'does not combine with class conditioning, ACGAN or '
                     'InfoGAN heads (set pack=1)')
  if config.eval.use_ema and not config.train.ema_decay:
    raise errors.ConfigError(
        'config.eval.use_ema evaluates the EMA of the generator, but '
        'config.train.ema_decay is 0 (no EMA): set ema_decay (e.g. 0.999) or '
        'use_ema=False.')
  for name in ('train.unroll_steps', 'train.instance_noise',
               'train.instance_noise_steps', 'model.minibatch_std'):
    section, key = name.split('.')
    if config[section][key] < 0:
      raise errors.ConfigError(f'config.{name} must be 0 (off) or more')


def make_optimizer(spec: ml_collections.ConfigDict,
                   differentiable: bool = False) -> optax.GradientTransformation:
  """optax.<spec.name>(**rest of spec).

  differentiable=True is for optimizer steps that are themselves
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
  return factory(**kwargs)


def instance_noise_std(config: ml_collections.ConfigDict, step) -> jax.Array:
  """The instance noise's standard deviation at `step` (a traced int ok).

  config.train.instance_noise at step 0, falling linearly to 0 at step
  config.train.instance_noise_steps and 0 after it; constant when that is 0.
  """
  std = jnp.float32(config.train.instance_noise)
  steps = config.train.instance_noise_steps
  if steps:
    std = std * jnp.clip(1.0 - jnp.asarray(step, jnp.float32) / steps, 0.0, 1.0)
  return std


class GAN:
  """The models, optimizers and losses of one config, and their maths.

  `axis_name` is None under jit (arrays are global) and the pmap axis under
  pmap, where BatchNorm, gradients and metrics are averaged across devices.
  `batch_sharding` (jit only) is where batch-sized random draws are placed.
  """

  def __init__(self, config, sample_shape, axis_name=None,
               batch_sharding=None):
    validate_config(config)
    self.config = config
    self.sample_shape = tuple(sample_shape)
    self.axis_name = axis_name
    self.batch_sharding = batch_sharding
    self.generator, self.discriminator = models.create_models(
        config, sample_shape, axis_name)
    # The penalty's pass through the critic is differentiated twice, where
    # DownConv's CPU form keeps to im2col; its plain passes (scores of real
    # and fake, the generator's loss) take the forms fastest for a first
    # derivative. Same parameters, same function.
    self.penalty_discriminator = self.discriminator
    if getattr(self.discriminator, 'double_backward', False):
      self.discriminator = self.discriminator.clone(double_backward=False)
    self.g_tx = make_optimizer(config.train.g_optimizer)
    self.d_tx = make_optimizer(config.train.d_optimizer)
    self.d_tx_unrolled = make_optimizer(config.train.d_optimizer,
                                        differentiable=True)
    self.pack = config.model.pack
    gan_loss = losses.GAN_LOSSES[config.loss.name]
    self.d_loss_fn = gan_loss.discriminator
    if gan_loss.outputs_logits:
      self.d_loss_fn = functools.partial(
          gan_loss.discriminator, label_smoothing=config.loss.label_smoothing)
    self.g_loss_fn = gan_loss.generator
    self.num_classes = models.num_classes(config)
    # cGAN and projection discriminators see the class; ACGAN's predicts it.
    self.d_sees_labels = bool(self.discriminator.num_classes)

  # --- Helpers that hide the difference between jit and pmap -------------

  def _mean(self, x):
    return x if self.axis_name is None else jax.lax.pmean(x, self.axis_name)

  def _draw(self, key, sampler, shape):
    """Global random draws of `shape` (batch first), this replica's rows.

    Under pmap every replica draws the whole global batch and keeps its own
    rows, so the numbers do not depend on the device count.
    """
    global_batch = self.config.train.batch_size
    x = sampler(key, (global_batch,) + tuple(shape))
    if self.axis_name is None:
      if self.batch_sharding is not None:
        x = jax.lax.with_sharding_constraint(x, self.batch_sharding)
      return x
    local = global_batch // jax.lax.psum(1, self.axis_name)
    start = jax.lax.axis_index(self.axis_name) * local
    return jax.lax.dynamic_slice_in_dim(x, start, local)

  def noise(self, key):
    return self._draw(key, jax.random.normal, (self.config.model.latent_dim,))

  def latent(self, key) -> dict[str, jax.Array]:
    """The generator's inputs for one batch.

    {'z': (B, latent_size)} (the noise, then InfoGAN's codes), plus 'labels'
    (B,) for conditional models and the codes 'categorical' (B,) and
    'continuous' (B, C) for InfoGAN. The noise is `noise(key)` whatever else
    is drawn, so unconditional runs keep their random stream.
    """
    m = self.config.model
    draw_int = lambda n: lambda k, s: jax.random.randint(k, s, 0, n)
    out = {'z': self.noise(key)}
    if self.num_classes:
      out['labels'] = self._draw(jax.random.fold_in(key, 1),
                                 draw_int(self.num_classes), ())
    if m.info_categorical:
      out['categorical'] = self._draw(jax.random.fold_in(key, 2),
                                      draw_int(m.info_categorical), ())
    if m.info_continuous:
      out['continuous'] = self._draw(
          jax.random.fold_in(key, 3),
          lambda k, s: jax.random.uniform(k, s, minval=-1.0, maxval=1.0),
          (m.info_continuous,))
    out['z'] = models.latent_vector(self.config, out['z'],
                                    out.get('categorical'),
                                    out.get('continuous'))
    return out

  # --- Networks ----------------------------------------------------------

  def generate(self, g_params, g_state, z, labels=None, train=True):
    """G(z[, labels]) -> (fake, new BatchNorm statistics)."""
    variables = {'params': g_params, **g_state}
    if train and g_state:
      fake, updates = self.generator.apply(variables, z, labels, train=True,
                                           mutable=['batch_stats'])
      return fake, updates
    return self.generator.apply(variables, z, labels, train=train), g_state

  def discriminate(self, d_params, d_state, x, labels=None, packed=False,
                   penalty=False):
    """D(x[, labels]) in training mode -> (scores (B,), heads, new d_state).

    `heads`: ACGAN's class logits and InfoGAN's Q outputs ({} when none).
    Labels reach the discriminator only when it is conditioned on them.
    With PacGAN packing (config.model.pack = m) D scores B / m packed
    examples; `packed`: x is packed already. `penalty`: the pass a gradient
    penalty differentiates twice (see `penalty_discriminator`).
    """
    variables = {'params': d_params, **d_state}
    labels = labels if self.d_sees_labels else None
    if not packed:
      x = models.pack_samples(x, self.pack)
    module = self.penalty_discriminator if penalty else self.discriminator
    if d_state:
      out, d_state = module.apply(variables, x, labels, train=True,
                                  mutable=['batch_stats'])
    else:
      out = module.apply(variables, x, labels, train=True)
    scores, heads = out if isinstance(out, tuple) else (out, {})
    return scores, heads, d_state

  def head_losses(self, heads, labels=None, latent=None):
    """ACGAN's and InfoGAN's terms on one batch -> (weighted sum, metrics).

    `labels`: the batch's classes (real labels, or those given to G);
    `latent`: the generator inputs of a fake batch (InfoGAN's codes).
    """
    loss_config = self.config.loss
    total, metrics = 0.0, {}
    if 'class_logits' in heads and labels is not None:
      metrics['class_loss'] = losses.auxiliary_classifier_loss(
          heads['class_logits'], labels)
      metrics['class_accuracy'] = jnp.mean(
          jnp.argmax(heads['class_logits'], -1) == labels)
      total += loss_config.aux_weight * metrics['class_loss']
    if latent is not None and 'q_categorical' in heads:
      metrics['info_categorical'] = losses.info_categorical_loss(
          heads['q_categorical'], latent['categorical'])
      total += loss_config.info_weight * metrics['info_categorical']
    if latent is not None and 'q_continuous' in heads:
      metrics['info_continuous'] = losses.info_continuous_loss(
          heads['q_continuous'], latent['continuous'])
      total += loss_config.info_continuous_weight * metrics['info_continuous']
    return total, metrics

  def init(self, key) -> GANState:
    """Initial state (single device, unreplicated)."""
    g_key, d_key = jax.random.split(key)
    z = jnp.zeros((2, models.latent_size(self.config)))
    x = models.pack_samples(jnp.zeros((2 * self.pack,) + self.sample_shape),
                            self.pack)
    labels = jnp.zeros((2,), jnp.int32) if self.num_classes else None
    g_vars = self.generator.init(g_key, z, labels, train=False)
    d_vars = self.discriminator.init(
        d_key, x, labels if self.d_sees_labels else None, train=False)
    g_state, d_state = dict(g_vars), dict(d_vars)
    g_params, d_params = g_state.pop('params'), d_state.pop('params')
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, g_state=g_state,
        g_opt_state=self.g_tx.init(g_params),
        d_params=d_params, d_state=d_state,
        d_opt_state=self.d_tx.init(d_params),
        ema_params=jax.tree.map(jnp.copy, g_params))

  # --- The updates ---------------------------------------------------------

  def add_instance_noise(self, x, noise_std, key):
    """x + noise_std * N(0, 1) (x itself when instance noise is off)."""
    if not self.config.train.instance_noise:
      return x
    return x + noise_std * self._draw(key, jax.random.normal, x.shape[1:])

  def critic_loss(self, d_params, d_state, real, real_labels, fake,
                  fake_latent, key, noise_std=0.0):
    """Critic loss with penalty and heads -> (loss, (new d_state, metrics)).

    `fake_latent`: the generator inputs that made `fake` (see `latent`);
    `noise_std`: the instance noise's standard deviation at this step.
    """
    real = self.add_instance_noise(real, noise_std, jax.random.fold_in(key, 1))
    fake = self.add_instance_noise(fake, noise_std, jax.random.fold_in(key, 2))
    fake_labels = fake_latent.get('labels')
    real_scores, real_heads, d_state = self.discriminate(
        d_params, d_state, real, real_labels)
    fake_scores, fake_heads, d_state = self.discriminate(
        d_params, d_state, fake, fake_labels)
    loss = self.d_loss_fn(real_scores, fake_scores)
    metrics = {'d_loss': loss, 'd_real': jnp.mean(real_scores),
               'd_fake': jnp.mean(fake_scores)}
    if real_heads:
      # ACGAN: D classifies real and fake (Odena et al. 2017, eq. 2);
      # InfoGAN: Q recovers the codes of fakes (Chen et al. 2016, eq. 5).
      real_terms, real_metrics = self.head_losses(real_heads, real_labels)
      fake_terms, fake_metrics = self.head_losses(fake_heads, fake_labels,
                                                  fake_latent)
      loss = loss + real_terms + fake_terms
      metrics.update({f'd_real_{k}': v for k, v in real_metrics.items()})
      metrics.update({f'd_fake_{k}': v for k, v in fake_metrics.items()})
    penalty_name = self.config.loss.penalty
    if penalty_name != 'none':
      # Per packed example: the critic's input is the packed one.
      critic_fn = lambda x: self.discriminate(d_params, d_state, x,
                                              real_labels, packed=True,
                                              penalty=True)[0]
      real = models.pack_samples(real, self.pack)
      if penalty_name == 'gradient_penalty':
        fake = models.pack_samples(fake, self.pack)
        epsilon = self._draw(key, jax.random.uniform, ())[:real.shape[0]]
        penalty = losses.gradient_penalty(critic_fn, real, fake, epsilon)
      else:
        penalty = losses.r1_penalty(critic_fn, real)
      metrics['penalty'] = penalty
      loss = loss + self.config.loss.penalty_weight * penalty
    metrics['d_total_loss'] = loss
    return loss, (d_state, metrics)

  def critic_update(self, d_params, d_state, d_opt_state, real, real_labels,
                    fake, fake_latent, key, noise_std=0.0, tx=None):
    """One optimizer step of the critic on a real and a fake batch."""
    grads, (d_state, metrics) = jax.grad(self.critic_loss, has_aux=True)(
        d_params, d_state, real, real_labels, fake, fake_latent, key,
        noise_std)
    grads = self._mean(grads)
    d_state = self._mean(d_state)
    tx = tx or self.d_tx
    updates, d_opt_state = tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if self.config.loss.weight_clip > 0:
      d_params = losses.clip_weights(d_params, self.config.loss.weight_clip)
    metrics['d_grad_norm'] = optax.tree.norm(grads)
    return d_params, d_state, d_opt_state, metrics

  def iteration(self, state: GANState, real_batches, real_labels=None,
                base_key=None) -> tuple[GANState, dict]:
    """One GAN iteration: n_critic critic updates, then one generator update.

    `real_batches` holds one real batch per critic update, (n_critic, B, ...),
    and `real_labels` their classes (n_critic, B) (conditional models).
    As in pytorch/examples' DCGAN, the generator update reuses the fake batch
    of the last critic update: one generator forward pass serves both, and
    the generator's gradient flows through the freshly updated critic.

    With config.train.unroll_steps = k (Unrolled GAN, Metz et al. 2017, eq.
    5-6), the generator's loss is taken against a copy of the critic advanced
    k more optimizer steps on the last real batch and the generator's fake
    batch, differentiated through those steps (a `lax.scan`), so G also sees
    how D would answer its move; the critic itself keeps its ordinary update.
    `base_key` (a PRNG key) replaces `jax.random.key(config.seed)`, e.g. to
    vmap an iteration over seeds.
    """
    config = self.config
    n_critic = config.train.n_critic
    if base_key is None:
      base_key = jax.random.key(config.seed)
    key = jax.random.fold_in(base_key, state.step)
    keys = jax.random.split(key, 2 * n_critic)
    noise_std = instance_noise_std(config, state.step)
    real_batches = input_pipeline.to_model_input(real_batches)
    if not self.num_classes:
      real_labels = None  # Not used: the scan carries no dummy.
    elif real_labels is None:
      raise ValueError('this GAN is class-conditional: pass the real '
                       'batches\' labels (n_critic, B).')

    def critic_iteration(carry, inputs):
      d_params, d_state, d_opt_state, g_state = carry
      real, labels, noise_key, penalty_key = inputs
      latent = self.latent(noise_key)
      fake, g_state = self.generate(state.g_params, g_state, latent['z'],
                                    latent.get('labels'))
      d_params, d_state, d_opt_state, metrics = self.critic_update(
          d_params, d_state, d_opt_state, real, labels, fake, latent,
          penalty_key, noise_std)
      return (d_params, d_state, d_opt_state, g_state), metrics

    carry = (state.d_params, state.d_state, state.d_opt_state, state.g_state)
    if n_critic > 1:
      carry, _ = jax.lax.scan(
          critic_iteration, carry,
          (real_batches[:-1],
           None if real_labels is None else real_labels[:-1],
           keys[:n_critic - 1], keys[n_critic:-1]))
    d_params, d_state, d_opt_state, g_state = carry

    # The last critic update and the generator update share G(z).
    latent = self.latent(keys[n_critic - 1])
    fake_labels = latent.get('labels')
    (fake, g_state), g_vjp = jax.vjp(
        lambda p: self.generate(p, g_state, latent['z'], fake_labels),
        state.g_params)
    g_state = self._mean(g_state)
    last_real = real_batches[-1]
    last_labels = None if real_labels is None else real_labels[-1]
    d_params, d_state, d_opt_state, metrics = self.critic_update(
        d_params, d_state, d_opt_state, last_real, last_labels,
        jax.lax.stop_gradient(fake), latent, keys[-1], noise_std)
    g_key = jax.random.fold_in(keys[-1], 3)

    def unrolled_critic(fake):
      """The critic after unroll_steps more steps, as a function of fake."""

      def unroll(carry, unroll_key):
        params, d_state, opt_state = carry
        params, d_state, opt_state, _ = self.critic_update(
            params, d_state, opt_state, last_real, last_labels, fake, latent,
            unroll_key, noise_std, tx=self.d_tx_unrolled)
        return (params, d_state, opt_state), None

      unroll_keys = jax.random.split(jax.random.fold_in(g_key, 1),
                                     config.train.unroll_steps)
      (params, unrolled_state, _), _ = jax.lax.scan(
          unroll, (d_params, d_state, d_opt_state), unroll_keys)
      return params, unrolled_state

    def generator_loss(fake):
      params, critic_state = d_params, d_state
      if config.train.unroll_steps:
        params, critic_state = unrolled_critic(fake)
      seen = self.add_instance_noise(fake, noise_std, g_key)
      scores, heads, new_d_state = self.discriminate(params, critic_state,
                                                     seen, fake_labels)
      if config.train.unroll_steps:
        new_d_state = d_state  # The unrolled copy's statistics are dropped.
      loss = self.g_loss_fn(scores)
      head_terms, head_metrics = self.head_losses(heads, fake_labels, latent)
      return loss + head_terms, (loss, new_d_state, head_metrics)

    (_, (g_loss, d_state, g_head_metrics)), fake_grads = jax.value_and_grad(
        generator_loss, has_aux=True)(fake)
    g_grads = g_vjp((fake_grads, jax.tree.map(jnp.zeros_like, g_state)))[0]
    g_grads = self._mean(g_grads)
    d_state = self._mean(d_state)
    updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state,
                                            state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = config.train.ema_decay
    ema_params = (optax.incremental_update(g_params, state.ema_params,
                                           1.0 - decay)
                  if decay > 0 else g_params)
    metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
    if config.train.instance_noise:
      metrics['instance_noise'] = noise_std
    metrics.update({f'g_{k}': v for k, v in g_head_metrics.items()})
    metrics = self._mean(metrics)
    metrics['finite'] = jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    new_state = GANState(
        step=state.step + 1, g_params=g_params, g_state=g_state,
        g_opt_state=g_opt_state, d_params=d_params, d_state=d_state,
        d_opt_state=d_opt_state, ema_params=ema_params)
    return new_state, metrics


class Trainer:
  """A GAN compiled for every device of every process, jit or pmap.

  `state` lives replicated on the devices; `step(batch)` runs one iteration
  on this process's slice of the global batch ({'x': (n_critic, b, ...)} and,
  for conditional models, 'label': (n_critic, b)).
  """

  def __init__(self, config, sample_shape, devices=None):
    """`devices` defaults to every device (jit) or this process's (pmap)."""
    self.config = config
    self.parallelism = config.parallelism
    self.trace_count = 0
    pmap = self.parallelism == 'pmap'
    self.devices = devices or (jax.local_devices() if pmap else jax.devices())
    num_devices = len(self.devices) * (jax.process_count() if pmap else 1)
    if config.train.batch_size % num_devices:
      raise errors.ConfigError(
          f'config.train.batch_size={config.train.batch_size} does not divide '
          f'by the {num_devices} devices: choose a multiple of {num_devices}.')
    if pmap:
      self.gan = GAN(config, sample_shape, axis_name=AXIS)
    else:
      self.mesh = Mesh(np.array(self.devices), (AXIS,))
      self.replicated = NamedSharding(self.mesh, P())
      self.gan = GAN(config, sample_shape,
                     batch_sharding=NamedSharding(self.mesh, P(AXIS)))
    # Sampling never needs cross-device statistics.
    sampler = GAN(config, sample_shape) if pmap else self.gan
    self._sample = jax.jit(
        lambda p, s, z, y: sampler.generate(p, s, z, y, train=False)[0])

    def counted_iteration(state, batch, labels):
      self.trace_count += 1
      return self.gan.iteration(state, batch, labels)

    def counted_iterations(state, batches, labels):
      # Several iterations per dispatch: a scan over the steps' batches.
      self.trace_count += 1
      state, metrics = jax.lax.scan(
          lambda s, inputs: self.gan.iteration(s, *inputs), state,
          (batches, labels))
      last = jax.tree.map(lambda m: m[-1], metrics)
      last['finite'] = jnp.all(metrics['finite'])
      return state, last

    if pmap:
      self._step, self._steps = (
          jax.pmap(f, axis_name=AXIS, donate_argnums=(0,), devices=devices)
          for f in (counted_iteration, counted_iterations))
    else:
      self._step, self._steps = (
          jax.jit(f, donate_argnums=(0,),
                  out_shardings=(self.replicated, self.replicated))
          for f in (counted_iteration, counted_iterations))

  def init_state(self) -> GANState:
    key = jax.random.key(self.config.seed + 1)
    if self.parallelism == 'pmap':
      return self.replicate(jax.jit(self.gan.init)(key))
    # Created in place on every device of every process.
    return jax.jit(self.gan.init, out_shardings=self.replicated)(key)

  def abstract_state(self) -> GANState:
    """Shapes, dtypes and target shardings of the state (for restoring)."""
    shapes = jax.eval_shape(self.gan.init, jax.random.key(0))
    sharding = (jax.sharding.SingleDeviceSharding(self.devices[0])
                if self.parallelism == 'pmap' else self.replicated)
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        shapes)

  def place(self, state: GANState) -> GANState:
    """A state restored into `abstract_state()` -> ready for `step`."""
    return self.replicate(state) if self.parallelism == 'pmap' else state

  def checkpointable(self, state: GANState) -> GANState:
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
      tree = jax.tree.map(lambda x: x[0], tree)
    return jax.device_get(tree)

  def shard_batch(self, local_x: np.ndarray, lead: int = 1):
    """This process's (n_critic, b, ...) slice -> the step's input array.

    `lead`: how many axes come before the batch axis (2 for the
    (steps, n_critic, b, ...) input of `steps`).
    """
    if self.parallelism == 'pmap':
      n = len(self.devices)
      x = local_x.reshape(local_x.shape[:lead] + (n, -1) +
                          local_x.shape[lead + 1:])
      return np.moveaxis(x, lead, 0)  # (devices, ..., b / devices, ...)
    sharding = NamedSharding(self.mesh, P(*[None] * lead, AXIS))
    return jax.make_array_from_process_local_data(sharding, local_x)

  def _inputs(self, local_batch, lead):
    x = local_batch['x']
    labels = local_batch.get('label')
    if labels is None or not self.gan.num_classes:
      # Unused; one traced shape.
      labels = np.zeros(x.shape[:lead + 1], np.int32)
    return self.shard_batch(x, lead), self.shard_batch(labels, lead)

  def step(self, state, local_batch):
    """One iteration: {'x': (n_critic, b, ...)[, 'label': (n_critic, b)]}."""
    return self._step(state, *self._inputs(local_batch, 1))

  def steps(self, state, local_batches):
    """len(local_batches) iterations in one dispatch (`lax.scan`).

    Same result as calling `step` on each batch in turn; the metrics are the
    last iteration's, and 'finite' covers all of them.
    """
    stacked = {k: np.stack([b[k] for b in local_batches])
               for k in local_batches[0]}
    return self._steps(state, *self._inputs(stacked, 2))

  def samples(self, state, z, use_ema=False, labels=None):
    """Generator samples (eval-mode BatchNorm) for latents z (and classes of
    conditional models), on the host."""
    host = self.unreplicate(state)
    params = host.ema_params if use_ema else host.g_params
    return np.asarray(self._sample(params, host.g_state, z, labels))


def fixed_noise(config, num, stream: int = 2**31 - 1) -> np.ndarray:
  """The noise behind every sample grid of a run (a function of the seed)."""
  key = jax.random.fold_in(jax.random.key(config.seed), stream)
  return np.asarray(jax.random.normal(key, (num, config.model.latent_dim)))


def fixed_latent(config, num, stream: int = 2**31 - 1):
  """(z, labels, categories) of sample grids and evaluation: `fixed_noise`
  with classes and codes laid out by `models.cycled_latents`."""
  key = jax.random.fold_in(jax.random.key(config.seed), stream - 2**20)
  return models.cycled_latents(config, fixed_noise(config, num, stream), key)


class _BestCheckpoint:
  """WORKDIR/checkpoints_best: the checkpoint with the lowest eval metric."""

  def __init__(self, workdir, metric: str):
    self.metric = metric
    self.ckpt = checkpoints.Checkpointer(
        checkpoints.checkpoint_dir(workdir, best=True), keep=1)
    step = self.ckpt.latest_step()
    self.value = (self.ckpt.read_meta(step)['eval'].get(metric, math.inf)
                  if step is not None else math.inf)

  def offer(self, step, state, meta, scalars):
    value = scalars.get(self.metric, math.inf)
    if math.isfinite(value) and value < self.value:
      self.value = value
      self.ckpt.save(step, state, {**meta, 'eval': scalars})
      logging.info('Best %s so far (%.4g) at step %d: saved to %s',
                   self.metric, value, step, self.ckpt.path(step))

  def close(self):
    self.ckpt.close()


def resolve_num_classes(config, dataset):
  """Sets config.model.num_classes of a conditional model from the data."""
  m = config.model
  if m.conditioning == 'none' and not m.aux_classifier:
    return
  if dataset.num_classes < 2:
    raise input_pipeline.DataError(
        f'{dataset.name} has no class labels, but the model is '
        'class-conditional (config.model.conditioning / aux_classifier). For '
        'an image folder, set --config.data.labels_from_subfolders=True '
        '(one sub-folder per class).')
  if m.num_classes == 0:
    m.num_classes = dataset.num_classes
  elif m.num_classes != dataset.num_classes:
    raise errors.ConfigError(f'config.model.num_classes={m.num_classes}, but '
                     f'{dataset.name} has {dataset.num_classes} classes: '
                     'leave it 0 to take the dataset\'s.')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       devices=None, restart: bool = False):
  """Trains the GAN that `config` describes, writing into `workdir`.

  Resumes from the workdir's latest good checkpoint. SIGTERM or SIGINT ends
  the run after the current step with a checkpoint. `devices` (default: all)
  restricts training to some devices. `restart`: start again at step 0 in a
  workdir that holds an earlier run, its records moved to
  WORKDIR/restarted-N/ first. Every check (config values, data, the
  workdir's lock, its checkpoints) passes before the run writes anything
  into the workdir. Returns the final state.
  """
  workdir = os.fspath(workdir)
  config_lib.validate_values(config)
  validate_config(config)
  workdirs.check_usable(workdir)
  dataset = input_pipeline.create_dataset(config)
  logging.info('Data: %s, %s examples of shape %s', dataset.name,
               f'{dataset.num_examples:,}' if dataset.num_examples < 2**40
               else 'unlimited', dataset.sample_shape)
  resolve_num_classes(config, dataset)
  trainer = Trainer(config, dataset.sample_shape, devices)
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
      return _train(config, workdir, dataset, trainer, ckpt, state)
    finally:
      ckpt.close()  # Every started save finishes before the process exits.


# What fixes the data order: batches are functions of (seed, step) through
# these, so a resumed run must keep them to continue the same stream.
_DATA_ORDER_KEYS = ('train.batch_size', 'train.n_critic')


def _check_resumable(config, restored: checkpoints.Restored):
  """Refuses a resume whose config changes the data order of the run."""
  saved = restored.meta.get('config', {})
  changed = []
  for name in _DATA_ORDER_KEYS:
    section, key = name.split('.')
    before = saved.get(section, {}).get(key)
    if before is not None and before != config[section][key]:
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


def _initial_state(config, workdir, trainer, ckpt) -> GANState:
  """The workdir's latest good checkpoint, else init_from, else fresh.

  A fresh start in a workdir holding an earlier run's records is refused
  (`workdirs.history`).
  """
  restored = ckpt.restore_latest_good(
      trainer.abstract_state(),
      'Refusing to resume this workdir with another model: use a new '
      '--workdir, or start a new run from this one\'s weights with '
      '--config.init_from=WORKDIR (same architecture, any optimizer).')
  if restored is not None:
    _check_resumable(config, restored)
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
    weights = source.restore_weights(step, trainer.abstract_state())
    logging.info('Starting from the weights of %s (step %d).',
                 source.path(step), step)
    if trainer.parallelism == 'pmap':
      state = trainer.replicate(trainer.unreplicate(state).replace(**weights))
    else:
      state = state.replace(**weights)
  return state


def _train(config, workdir, dataset, trainer, ckpt, state) -> GANState:
  writer = writers.MetricWriter(workdir, enabled=jax.process_index() == 0)
  writer.write_config(config)
  start_step = int(trainer.unreplicate(state.step))
  writer.drop_after(start_step)  # Records of steps the checkpoint lacks.
  num_steps = config.train.num_steps
  if start_step >= num_steps:
    logging.info('Nothing to do: the run is at step %d of %d.', start_step,
                 num_steps)
    writer.close()
    return state
  examples_per_step = config.train.n_critic * config.train.batch_size
  z_fixed, y_fixed, _ = fixed_latent(config, config.num_samples)
  batches = input_pipeline.batch_iterator(dataset, config, start_step)
  progress = writers.Progress(start_step, num_steps,
                              enabled=jax.process_index() == 0)
  saved_step = start_step
  evaluator = best = None
  if config.eval_every:
    evaluator = evaluate.TrainingEvaluator(
        config, dataset, workdir, write=jax.process_index() == 0)
    best = _BestCheckpoint(workdir, evaluator.primary)
    z_eval, y_eval, categories = fixed_latent(
        config, config.eval.num_samples, stream=2**31 - 2)
    eval_conditions = evaluate.conditions(y_eval, categories)

  def save(step):
    nonlocal saved_step
    ckpt.save(step, trainer.checkpointable(state),
              checkpoints.make_meta(step, config, dataset, examples_per_step))
    saved_step = step

  def run_eval(step):
    samples = np.concatenate([
        trainer.samples(state, z_eval[i:i + 500], config.eval.use_ema,
                        None if y_eval is None else y_eval[i:i + 500])
        for i in range(0, len(z_eval), 500)])
    scalars = evaluator(step, samples, eval_conditions)
    writer.write_scalars(step, scalars)
    logging.info('Eval at step %d: %s', step, ', '.join(
        f'{k.removeprefix("eval/")}={v:.4g}' for k, v in scalars.items()))
    best.offer(step, trainer.checkpointable(state),
               checkpoints.make_meta(step, config, dataset, examples_per_step),
               scalars)

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
        n = k if step % k == 0 and step + k <= num_steps else 1
        if n == 1:
          state, metrics = trainer.step(state, next(batches))
        else:
          state, metrics = trainer.steps(
              state, [next(batches) for _ in range(n)])
        previous, step = step, step + n
        last = step == num_steps

        def due(every, previous=previous, step=step):
          return every > 0 and step // every > previous // every

        if (pending is not None and
            not trainer.unreplicate(pending[1]['finite'])):
          check(*pending)
        pending = (step, metrics)
        first = previous == start_step
        if first:  # Compiled: show the losses and start the clock now.
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
        if due(config.sample_every) or last:
          samples = trainer.samples(state, z_fixed, labels=y_fixed)
          writer.write_samples(step, samples, dataset)
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
