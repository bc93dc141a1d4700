"""The noise GAN family: one generator from noise, one critic.

Every GAN of the course lives here: minimax and non-saturating BCE, WGAN
(weight clipping), WGAN-GP and R1, hinge and least squares; MLP and DCGAN
networks; cGAN, projection, ACGAN and InfoGAN; unrolled critics, PacGAN,
instance noise, minibatch std and the generator EMA. `GAN.iteration` runs a
whole iteration (n_critic critic updates in a scan, one generator update,
EMA) as one pure function; its state is `GANState`. Under 'jit' the batch and
noise are sharded on the mesh's 'data' axis (`batch_sharding`); under 'pmap'
the same function runs per device with gradients averaged by `lax.pmean`
and cross-replica BatchNorm statistics (`axis_name`).
"""

import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import config_lib
from jaxgan import diffaugment
from jaxgan import errors
from jaxgan import health
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan import networks
from jaxgan import writers
from jaxgan.families import base
from jaxgan.networks import layers
from jaxgan.networks import spectral_norm


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



def validate_config(config: ml_collections.ConfigDict):
  """Rejects combinations that would train wrongly, naming the fix."""
  if config.loss.name not in losses.GAN_LOSSES:
    raise errors.ConfigError(f'unknown config.loss.name {config.loss.name!r}: use one '
                     f'of {sorted(losses.GAN_LOSSES)}')
  if losses.GAN_LOSSES[config.loss.name].relativistic:
    raise errors.ConfigError(
        f'config.loss.name={config.loss.name!r}: the noise GAN family does '
        'not train relativistic losses (their generator loss needs real '
        'logits); the paired family does (ESRGAN)')
  if config.loss.penalty not in losses.PENALTIES:
    raise errors.ConfigError(f'unknown config.loss.penalty {config.loss.penalty!r}: '
                     f'use one of {losses.PENALTIES}')
  if (config.loss.penalty != 'none' and uses_batch_norm(config)):
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
  if config.train.lr_decay not in ('none', 'linear'):
    raise errors.ConfigError(
        f'config.train.lr_decay={config.train.lr_decay!r}: use "none" or '
        '"linear"')
  if config.model.upsample not in layers.UPSAMPLES:
    raise errors.ConfigError(
        f'unknown config.model.upsample {config.model.upsample!r}: use one '
        f'of {layers.UPSAMPLES}')
  if (config.model.upsample != 'transposed' and
      config.model.generator != 'dcgan'):
    raise errors.ConfigError(
        f'config.model.upsample={config.model.upsample!r} chooses how the '
        f'DCGAN generator upsamples, not the {config.model.generator!r} '
        'generator: leave it \'transposed\'')
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



class GAN(base.Family):
  """The models, optimizers and losses of one config, and their maths.

  `axis_name` is None under jit (arrays are global) and the pmap axis under
  pmap, where BatchNorm, gradients and metrics are averaged across devices.
  `batch_sharding` (jit only) is where batch-sized random draws are placed.
  """

  name = 'gan'
  batch_axis = 1  # Batches are (n_critic, B, ...): one per critic update.
  parallelisms = ('jit', 'pmap')
  data_order_keys = ('train.batch_size', 'train.n_critic')
  weights = ('g_params', 'g_state', 'd_params', 'd_state', 'ema_params')
  health_advice = {
      'discriminator_wins':
          'label smoothing (loss.label_smoothing=0.1), instance noise '
          '(train.instance_noise=0.1), a penalty (loss.penalty=r1), a '
          'smaller train.d_optimizer.learning_rate, or on a small dataset '
          'DiffAugment (train.diffaugment=color,translation,cutout)',
      'vanishing_generator_gradient':
          'loss.name=non_saturating (the minimax loss saturates when D '
          'wins), loss.name=wasserstein with loss.penalty=gradient_penalty, '
          'or a smaller train.d_optimizer.learning_rate',
      'mode_collapse':
          'model.minibatch_std=4, PacGAN (model.pack=2), unrolling '
          '(train.unroll_steps=5), or WGAN-GP (loss.name=wasserstein, '
          'loss.penalty=gradient_penalty); see the mode-collapse lab',
  }

  def __init__(self, config, sample_shape, axis_name=None,
               batch_sharding=None):
    validate_config(config)
    super().__init__(config, tuple(sample_shape), axis_name, batch_sharding)
    self.sample_shape = tuple(sample_shape)
    self.generator, self.discriminator = create_models(
        config, sample_shape, axis_name)
    # The penalty's pass through the critic is differentiated twice, where
    # DownConv's CPU form keeps to im2col; its plain passes (scores of real
    # and fake, the generator's loss) take the forms fastest for a first
    # derivative. Same parameters, same function.
    self.penalty_discriminator = self.discriminator
    if getattr(self.discriminator, 'double_backward', False):
      self.discriminator = self.discriminator.clone(double_backward=False)
    g_schedule = d_schedule = None
    if config.train.lr_decay == 'linear':
      # Per iteration: G steps once, D n_critic times per iteration.
      steps = max(config.train.num_steps, 1)
      g_schedule = lambda count: jnp.maximum(1.0 - count / steps, 0.0)
      d_schedule = lambda count: jnp.maximum(
          1.0 - count / (steps * config.train.n_critic), 0.0)
    self.g_tx = base.make_optimizer(config.train.g_optimizer,
                                    schedule=g_schedule)
    self.d_tx = base.make_optimizer(config.train.d_optimizer,
                                    schedule=d_schedule)
    self.d_tx_unrolled = base.make_optimizer(config.train.d_optimizer,
                                             differentiable=True,
                                             schedule=d_schedule)
    self.pack = config.model.pack
    self.augment_ops = diffaugment.ops_from_config(config)
    if self.augment_ops and len(self.sample_shape) != 3:
      raise errors.ConfigError(
          f'config.train.diffaugment={config.train.diffaugment!r} transforms '
          f'images, but this data is {self.sample_shape}: set it to "".')
    gan_loss = losses.GAN_LOSSES[config.loss.name]
    self.d_loss_fn = gan_loss.discriminator
    if gan_loss.outputs_logits:
      self.d_loss_fn = functools.partial(
          gan_loss.discriminator, label_smoothing=config.loss.label_smoothing)
    self.g_loss_fn = gan_loss.generator
    self.d_accuracy = gan_loss.accuracy
    self.num_classes = num_classes(config)
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
    out['z'] = latent_vector(self.config, out['z'],
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
    d_state = dict(d_state)
    spectral = d_state.pop('spectral', None)
    if spectral is not None:
      # Spectral normalisation: one power iteration per forward pass, as
      # PyTorch's spectral_norm in training mode (networks/spectral_norm.py).
      d_params, spectral, _ = spectral_norm.normalize(d_params, spectral)
    variables = {'params': d_params, **d_state}
    labels = labels if self.d_sees_labels else None
    if not packed:
      x = layers.pack_samples(x, self.pack)
    module = self.penalty_discriminator if penalty else self.discriminator
    if d_state:
      out, d_state = module.apply(variables, x, labels, train=True,
                                  mutable=['batch_stats'])
      d_state = dict(d_state)
    else:
      out = module.apply(variables, x, labels, train=True)
    if spectral is not None:
      d_state['spectral'] = spectral
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
    z = jnp.zeros((2, latent_size(self.config)))
    x = layers.pack_samples(jnp.zeros((2 * self.pack,) + self.sample_shape),
                            self.pack)
    labels = jnp.zeros((2,), jnp.int32) if self.num_classes else None
    g_vars = self.generator.init(g_key, z, labels, train=False)
    d_vars = self.discriminator.init(
        d_key, x, labels if self.d_sees_labels else None, train=False)
    g_state, d_state = dict(g_vars), dict(d_vars)
    g_params, d_params = g_state.pop('params'), d_state.pop('params')
    if self.config.model.spectral_norm:
      d_state['spectral'] = spectral_norm.init_state(
          d_params, jax.random.fold_in(d_key, 1))
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

  def augment(self, x, key):
    """DiffAugment's ops on x (x itself when config.train.diffaugment is
    '')."""
    return diffaugment.augment(x, key, self.augment_ops)

  def critic_loss(self, d_params, d_state, real, real_labels, fake,
                  fake_latent, key, noise_std=0.0):
    """Critic loss with penalty and heads -> (loss, (new d_state, metrics)).

    `fake_latent`: the generator inputs that made `fake` (see `latent`);
    `noise_std`: the instance noise's standard deviation at this step.
    """
    real = self.add_instance_noise(real, noise_std, jax.random.fold_in(key, 1))
    fake = self.add_instance_noise(fake, noise_std, jax.random.fold_in(key, 2))
    real = self.augment(real, jax.random.fold_in(key, 4))
    fake = self.augment(fake, jax.random.fold_in(key, 5))
    fake_labels = fake_latent.get('labels')
    real_scores, real_heads, d_state = self.discriminate(
        d_params, d_state, real, real_labels)
    fake_scores, fake_heads, d_state = self.discriminate(
        d_params, d_state, fake, fake_labels)
    loss = self.d_loss_fn(real_scores, fake_scores)
    metrics = {'d_loss': loss, 'd_real': jnp.mean(real_scores),
               'd_fake': jnp.mean(fake_scores)}
    metrics['d_real_acc'], metrics['d_fake_acc'] = self.d_accuracy(
        real_scores, fake_scores)
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
      real = layers.pack_samples(real, self.pack)
      if penalty_name == 'gradient_penalty':
        fake = layers.pack_samples(fake, self.pack)
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
      seen = self.augment(self.add_instance_noise(fake, noise_std, g_key),
                          jax.random.fold_in(g_key, 5))
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
    metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads),
                   diversity=health.diversity_ratio(fake, last_real))
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

  # --- The family's interface (families/base.py) ---------------------------

  @classmethod
  def add_config(cls, config):
    config_lib.add_gan_config(config)

  @classmethod
  def validate(cls, config):
    super().validate(config)
    validate_config(config)

  @classmethod
  def create_data(cls, config):
    return input_pipeline.create_dataset(config)

  @classmethod
  def resolve(cls, config, data):
    resolve_num_classes(config, data)

  @property
  def examples_per_step(self):
    return self.config.train.n_critic * self.config.train.batch_size

  def update(self, state, batch):
    """One iteration on {'image': (n_critic, B, ...)[, 'label': ...]}."""
    labels = batch.get('label') if self.num_classes else None
    return self.iteration(state, batch['image'], labels)

  def batches(self, data, start_step):
    for batch in input_pipeline.batch_iterator(data, self.config, start_step):
      if not self.num_classes:
        batch.pop('label', None)  # Unconditional: the labels are not used.
      yield batch

  def inference_state(self, state, ema=False):
    """With `ema`, g_state becomes the EMA weights' own BatchNorm
    statistics (`standing_statistics` over `standing_inputs`), as `sample`
    gives them; the raw generator keeps its running statistics."""
    if not ema or not state.g_state:
      return state
    return state.replace(g_state=ema_statistics(
        self.generator, self.config, state.ema_params, state.g_state))

  def predict(self, state, inputs, ema=False):
    """Samples (eval-mode BatchNorm) for {'z'[, 'labels']}; with `ema`,
    of a state from `inference_state(state, ema=True)`."""
    params = state.ema_params if ema else state.g_params
    return self.generate(params, state.g_state, inputs['z'],
                         inputs.get('labels'), train=False)[0]

  def sample_inputs(self, data, num):
    del data
    z, labels, _ = fixed_latent(self.config, num)
    return {'z': z} if labels is None else {'z': z, 'labels': labels}

  def draw_samples(self, path, inputs, outputs, data):
    writers.draw_samples(path, outputs, data.name)

  def networks(self, state):
    return {'generator': state.g_params, 'discriminator': state.d_params}

  def evaluator(self, data, workdir, write=True):
    from jaxgan import evaluate  # pylint: disable=g-import-not-at-top
    return evaluate.SampleEvaluator(self.config, data, workdir, write)

  @classmethod
  def servable(cls, workdir, step=None, best=False, ema=False,
               direction=None):
    """G(z[, labels]) of the run, as `python -m jaxgan.sample` draws."""
    del direction
    from jaxgan import sample  # pylint: disable=g-import-not-at-top
    generator = sample.load(workdir, step, best)  # apply refuses a missing EMA.
    latent = generator.config.model.latent_dim
    inputs = [{'name': 'z', 'shape': [latent], 'dtype': 'float32',
               'range': 'standard normal'}]
    if generator.num_classes:
      inputs.append({'name': 'labels', 'shape': [], 'dtype': 'int32',
                     'classes': generator.num_classes})
      fn = lambda z, labels: generator.apply(z, labels, ema)  # pylint: disable=unnecessary-lambda-assignment
    else:
      fn = lambda z: generator.apply(z, None, ema)  # pylint: disable=unnecessary-lambda-assignment
    return base.Servable(
        fn, inputs, {'name': 'image', 'shape': list(
            generator.meta['sample_shape']), 'range': [-1, 1]},
        generator.ema_variables if ema else generator.variables,
        {'step': generator.step, 'config': generator.config,
         'latent_dim': latent, 'num_classes': generator.num_classes})


def fixed_noise(config, num, stream: int = 2**31 - 1) -> np.ndarray:
  """The noise behind every sample grid of a run (a function of the seed)."""
  key = jax.random.fold_in(jax.random.key(config.seed), stream)
  return np.asarray(jax.random.normal(key, (num, config.model.latent_dim)))


def fixed_latent(config, num, stream: int = 2**31 - 1):
  """(z, labels, categories) of sample grids and evaluation: `fixed_noise`
  with classes and codes laid out by `cycled_latents`."""
  key = jax.random.fold_in(jax.random.key(config.seed), stream - 2**20)
  return cycled_latents(config, fixed_noise(config, num, stream), key)


# BigGAN-PyTorch's num_standing_accumulations.
STANDING_BATCHES = 16


def standing_inputs(config: ml_collections.ConfigDict):
  """(z (K, B, latent), labels (K, B) or None): the generator inputs that
  `standing_statistics` averages over, K = STANDING_BATCHES batches of
  config.train.batch_size fixed latents (classes and codes cycling, as
  `fixed_latent`), the same in training's evaluation and in `sample`."""
  b = config.train.batch_size
  with jax.ensure_compile_time_eval():  # Constants, also under jit.
    z, labels, _ = fixed_latent(config, STANDING_BATCHES * b,
                                stream=2**31 - 3)
  return (z.reshape(STANDING_BATCHES, b, -1),
          None if labels is None else labels.reshape(STANDING_BATCHES, b))


def standing_statistics(generator, params, g_state: dict, z, labels=None):
  """BatchNorm statistics of their own for generator weights `params` that
  training never ran, as an EMA of the weights: each BatchNorm's batch mean
  and (biased) variance in training mode, averaged over the batches of `z`
  (K, B, latent) [and `labels` (K, B)] ("standing statistics", Brock et al.
  2019, BigGAN-PyTorch's accumulate_standing_stats).

  Eval-mode BatchNorm with the raw weights' running statistics normalises
  the EMA's activations by another network's mean and variance: on the
  course's ORL run (configs/course.py:orl) at step 1,800 the EMA's samples
  had a pixel standard deviation of 0.26 against the raw generator's 0.42,
  and 0.40 with these. `g_state` without BatchNorm comes back unchanged.
  """
  if not g_state.get('batch_stats'):
    return g_state
  zeros = jax.tree.map(jnp.zeros_like, g_state['batch_stats'])

  def one(_, inputs):
    z_k, labels_k = inputs
    _, updates = generator.apply({'params': params, 'batch_stats': zeros},
                                 z_k, labels_k, train=True,
                                 mutable=['batch_stats'])
    # From zeros, one update leaves (1 - momentum) x the batch's statistic.
    return None, jax.tree.map(
        lambda s: s / (1.0 - layers.BATCH_NORM_MOMENTUM),
        updates['batch_stats'])

  _, stats = jax.lax.scan(one, None, (z, labels))
  return {**g_state, 'batch_stats': jax.tree.map(
      lambda s: jnp.mean(s, axis=0), stats)}


def ema_statistics(generator, config, ema_params, g_state: dict) -> dict:
  """g_state with the EMA weights' own BatchNorm statistics:
  `standing_statistics` over `standing_inputs(config)`, what training's
  evaluation and `sample --ema` both use."""
  return standing_statistics(generator, ema_params, g_state,
                             *standing_inputs(config))


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



def num_classes(config: ml_collections.ConfigDict) -> int:
  """Classes the generator is conditioned on (0: unconditional)."""
  m = config.model
  if m.conditioning == 'none' and not m.aux_classifier:
    return 0
  if m.num_classes < 1:
    raise ValueError(
        'config.model.num_classes must be set for a class-conditional model '
        '(the trainer sets it from the dataset).')
  return m.num_classes


def latent_size(config: ml_collections.ConfigDict) -> int:
  """Size of the generator's latent vector (before the class is appended):
  the noise, then InfoGAN's one-hot categorical code and continuous codes."""
  m = config.model
  return m.latent_dim + m.info_categorical + m.info_continuous


def latent_vector(config: ml_collections.ConfigDict, noise, categorical=None,
                  continuous=None) -> jax.Array:
  """The generator's latent: noise, one-hot categorical code, continuous codes.

  `categorical` may be integer codes (B,) or code vectors (B, K) (as classes,
  see `class_vectors`).
  """
  m = config.model
  parts = [jnp.asarray(noise, jnp.float32)]
  if m.info_categorical:
    parts.append(layers.class_vectors(categorical, m.info_categorical))
  if m.info_continuous:
    parts.append(jnp.asarray(continuous, jnp.float32))
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def cycled_latents(config: ml_collections.ConfigDict, noise, key):
  """Generator inputs for grids and evaluation: (z, labels, categories).

  Classes and InfoGAN categories cycle with the index (i % K), so that every
  class gets len(noise) / K samples and a grid of K columns shows one class
  or category per column; continuous codes are uniform in [-1, 1], drawn
  from `key`. `labels` (conditional models) and `categories` (InfoGAN) are
  None when the model has none.
  """
  m = config.model
  index = np.arange(len(noise))
  continuous = None
  if m.info_continuous:
    continuous = jax.random.uniform(key, (len(noise), m.info_continuous),
                                    minval=-1.0, maxval=1.0)
  categories = index % m.info_categorical if m.info_categorical else None
  z = np.asarray(latent_vector(config, noise, categories, continuous))
  classes = num_classes(config)
  labels = (index % classes).astype(np.int32) if classes else None
  return z, labels, categories


def create_models(config: ml_collections.ConfigDict, image_shape,
                  axis_name: str | None = None):
  """(generator, discriminator) for `config.model` and the data's shape,
  looked up by name in `networks.registry`."""
  m = config.model
  if m.conditioning not in layers.CONDITIONINGS:
    raise errors.ConfigError(
        f'unknown config.model.conditioning {m.conditioning!r}: use one of '
        f'{layers.CONDITIONINGS}')
  classes = num_classes(config)
  heads = dict(num_classes=classes if m.conditioning != 'none' else 0,
               conditioning=m.conditioning,
               aux_classes=classes if m.aux_classifier else 0,
               info_categorical=m.info_categorical,
               info_continuous=m.info_continuous)
  generator = networks.build('generator', m.generator, config, image_shape,
                             axis_name=axis_name, num_classes=classes)
  discriminator = networks.build('discriminator', m.discriminator, config,
                                 image_shape, axis_name=axis_name, **heads)
  return generator, discriminator


def uses_batch_norm(config: ml_collections.ConfigDict) -> bool:
  """Whether the discriminator mixes examples through BatchNorm."""
  return config.model.discriminator == 'dcgan' and config.model.d_norm == 'batch'

