"""Progressive growing of GANs (Karras et al. 2018): the 'progressive' family.

G and D (`networks/progan.py`) grow from 4x4 by doubling: stable 4x4, then
for each next resolution a fade-in and a stable phase (`schedule.py`, in
images, with a batch size per resolution). Every resolution's blocks are in
the state from the start, so a checkpoint has one layout for the whole run.
The phase is static: the loop compiles `update` once per phase
(`Family.phase`), working at the phase's resolution only, and the fade-in
alpha is a traced function of the step, so a run stopped anywhere (in a
fade-in too) resumes exactly.

The iteration, as the authors' code (`train.py`, `loss.py`) with D_repeats 1:
  reals: the dataset's images average-pooled to the phase's resolution (on
    the host; the code's TFRecords hold each level pooled and rounded to
    uint8, here kept in float) and, while fading, crossfaded with their
    2x-pooled-and-upsampled copy by 1 - alpha (the code's `FadeLOD`);
  D: WGAN-GP: E[D(G(z))] - E[D(x)] + 10 E[(||grad D(x_hat)|| - 1)^2]
    + 0.001 E[D(x)^2] (the drift term, sec. A.1); the penalty's gradient is
    of the sum of D's outputs, as the code (`tf.gradients(sum)`), which
    with the minibatch std couples the examples of a group as there;
  G: -E[D(G(z'))] on fresh latents, then the generator EMA (0.999);
  Adam (1e-3, beta1 0, beta2 0.99, eps 1e-8) for both, its state reset to
    its initial value at the first step of every phase (the code's
    `reset_opt_for_new_lod`: its lod's floor or ceiling changes when a
    fade-in starts and when it ends).
Samples and evaluation use the generator at the state's step (its phase
and alpha), upsampled by nearest neighbour to the data's resolution, as
the code's `Gs` outputs.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import diffaugment
from jaxgan import errors
from jaxgan import health
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan import networks
from jaxgan import writers
from jaxgan.families import base
from jaxgan.families import gan
from jaxgan.families.progressive import schedule as schedules
from jaxgan.networks import progan


@flax.struct.dataclass
class ProgressiveState:
  step: jax.Array
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  ema_params: Any


def add_config(config: ml_collections.ConfigDict):
  """The family's fields, with the authors' defaults (`config.py`,
  `networks.py`, `loss.py`, `train.py`)."""
  data = config.data
  data.name = 'folder'
  data.image_size = ml_collections.config_dict.placeholder(tuple)
  data.channels = ml_collections.config_dict.placeholder(int)
  data.labels_from_subfolders = False
  data.max_in_memory_mb = 4096

  m = config.model = ml_collections.ConfigDict()
  m.generator = 'progan'
  m.discriminator = 'progan'
  m.latent_dim = 512
  m.fmap_base = 8192
  m.fmap_max = 512
  m.upsample = 'nearest'  # or 'bilinear', 'transposed' (see progan.py)
  m.minibatch_std = 4  # Group size (0 or 1: off).

  loss = config.loss = ml_collections.ConfigDict()
  loss.gp_weight = 10.0
  loss.drift_weight = 0.001

  t = config.train
  diffaugment.add_config(config)
  t.batch_size = 16  # Levels without an entry in batch_sizes.
  # Per level, 4x4 first (the last entry for the levels beyond): the
  # code's one-GPU preset {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, ...}.
  t.batch_sizes = (128, 128, 128, 64, 32, 16, 8, 4)
  t.stable_images = 600_000  # lod_training_kimg (the paper: 800k)
  t.fade_images = 600_000  # lod_transition_kimg
  t.final_images = 0  # The last stable phase (0: stable_images).
  t.num_steps = 0  # 0: the schedule's end; less stops earlier.
  t.g_optimizer = ml_collections.ConfigDict(
      dict(name='adam', learning_rate=1e-3, b1=0.0, b2=0.99, eps=1e-8))
  t.d_optimizer = ml_collections.ConfigDict(
      dict(name='adam', learning_rate=1e-3, b1=0.0, b2=0.99, eps=1e-8))
  t.ema_decay = 0.999
  t.reset_optimizers = True  # At every phase's first step, as the code.

  e = config.eval
  e.networks = ('inception',)
  e.num_samples = 5000
  e.ref = ''
  e.split = 'train'
  e.num_real = 0
  e.use_ema = True
  # Beside FID: SWD on Laplacian-pyramid patches (Karras et al. 2018,
  # appendix D) between this many samples and training images (0: off),
  # and the mean MS-SSIM of this many random pairs of samples (Odena et al.
  # 2017; 0: off).
  e.swd_images = 2048
  e.ms_ssim_pairs = 1000


class Progressive(base.Family):
  """ProGAN: G, D and G's EMA, grown by phases."""
  name = 'progressive'
  data_order_keys = ('train.batch_size', 'train.batch_sizes',
                     'train.stable_images', 'train.fade_images',
                     'train.final_images')
  weights = ('g_params', 'd_params', 'ema_params')

  @classmethod
  def add_config(cls, config):
    add_config(config)

  @classmethod
  def validate(cls, config):
    super().validate(config)
    m, t = config.model, config.train
    for role in ('generator', 'discriminator'):
      if getattr(m, role) != 'progan':
        raise errors.ConfigError(
            f'config.model.{role}={getattr(m, role)!r}: the progressive '
            "family grows 'progan' networks")
    if m.upsample not in progan.UPSAMPLES:
      raise errors.ConfigError(f'config.model.upsample={m.upsample!r}: one '
                               f'of {progan.UPSAMPLES}')
    if m.fmap_base < 1 or m.fmap_max < 1 or m.latent_dim < 1:
      raise errors.ConfigError('config.model.fmap_base, fmap_max and '
                               'latent_dim must be positive')
    group = m.minibatch_std
    for size in tuple(t.batch_sizes) + (t.batch_size,):
      if size < 1 or (group > 1 and size % min(group, size)):
        raise errors.ConfigError(
            f'batch size {size} (config.train.batch_sizes / batch_size): '
            f'each must be positive and divide by the minibatch-std group '
            f'(config.model.minibatch_std={group})')

  @classmethod
  def create_data(cls, config):
    return input_pipeline.create_dataset(config)

  @classmethod
  def resolve(cls, config, data):
    networks.check('generator', 'progan', config, data.spec)
    phases = make_phases(config, data.spec)
    if not config.train.num_steps:
      config.train.num_steps = phases[-1].end

  def __init__(self, config, spec, axis_name=None, batch_sharding=None):
    super().__init__(config, spec, axis_name, batch_sharding)
    self.generator = networks.build('generator', 'progan', config, spec)
    self.discriminator = networks.build('discriminator', 'progan', config,
                                        spec)
    self.levels = progan.levels_of(spec)
    self.phases = make_phases(config, spec)
    self.g_tx = base.make_optimizer(config.train.g_optimizer)
    self.d_tx = base.make_optimizer(config.train.d_optimizer)
    self.augment_ops = diffaugment.ops_from_config(config)
    if batch_sharding is not None:
      devices = batch_sharding.mesh.size
      uneven = sorted({p.batch_size for p in self.phases
                       if p.batch_size % devices})
      if uneven:
        raise errors.ConfigError(
            f'batch sizes {uneven} (config.train.batch_sizes) do not divide '
            f'by the {devices} devices: choose multiples of {devices}')

  # --- Phases ----------------------------------------------------------------

  def phase(self, step):
    return schedules.phase_at(self.phases, step)

  def phase_end(self, step):
    return self.phase(step).end

  def examples_seen(self, step):
    return schedules.examples_seen(self.phases, step)

  # --- State ----------------------------------------------------------------

  def init(self, key):
    g_key, d_key = jax.random.split(key)
    side = 4 * 2**self.levels
    z = jnp.zeros((4, self.config.model.latent_dim))
    images = jnp.zeros((4, side, side, self.spec[-1]))
    g_params = progan.init_params(self.generator, g_key, z)
    d_params = progan.init_params(self.discriminator, d_key, images)
    return ProgressiveState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
        g_opt_state=self.g_tx.init(g_params),
        d_opt_state=self.d_tx.init(d_params),
        ema_params=jax.tree.map(jnp.copy, g_params))

  def generate(self, g_params, z, phase: schedules.Phase, alpha):
    return self.generator.apply({'params': g_params}, z, phase.level,
                                alpha if phase.fading else None)

  def generate_full(self, g_params, z, phase: schedules.Phase, alpha):
    """`generate` upsampled by nearest neighbour to the data's side."""
    out = self.generate(g_params, z, phase, alpha)
    factor = 4 * 2**self.levels // phase.resolution
    return progan.upscale2d(out, factor) if factor > 1 else out

  def discriminate(self, d_params, images, phase: schedules.Phase, alpha):
    return self.discriminator.apply({'params': d_params}, images, phase.level,
                                    alpha if phase.fading else None)[:, 0]

  # --- The iteration ----------------------------------------------------------

  def _noise(self, key, batch):
    z = jax.random.normal(key, (batch, self.config.model.latent_dim))
    if self.batch_sharding is not None:
      z = jax.lax.with_sharding_constraint(z, self.batch_sharding)
    return z

  def update(self, state, batch, phase: schedules.Phase):
    """One iteration of `phase` on {'image': (B, r, r, C)} in [-1, 1] at the
    phase's resolution r."""
    config, lc = self.config, self.config.loss
    alpha = jnp.asarray(schedules.alpha(phase, state.step), jnp.float32)
    key = jax.random.fold_in(jax.random.key(config.seed), state.step)
    k_d, k_eps, k_g = jax.random.split(key, 3)
    reals = batch['image'].astype(jnp.float32)
    b = reals.shape[0]
    if phase.fading:
      # The code's FadeLOD: the reals crossfade from the previous level's
      # detail (2x pooled, then upsampled) to their own.
      coarse = progan.upscale2d(progan.downscale2d(reals))
      reals = progan.lerp(coarse, reals, alpha)

    g_opt, d_opt = state.g_opt_state, state.d_opt_state
    if config.train.reset_optimizers:
      first = state.step == phase.start
      reset = lambda opt, fresh: jax.tree.map(
          lambda o, f: jnp.where(first, f, o), opt, fresh)
      g_opt = reset(g_opt, self.g_tx.init(state.g_params))
      d_opt = reset(d_opt, self.d_tx.init(state.d_params))

    fakes = self.generate(state.g_params, self._noise(k_d, b), phase, alpha)

    diversity = health.diversity_ratio(fakes, reals)
    if self.augment_ops:  # DiffAugment: reals and fakes, fresh draws each.
      reals = diffaugment.augment(reals, jax.random.fold_in(key, 11),
                                  self.augment_ops)
      fakes = diffaugment.augment(fakes, jax.random.fold_in(key, 12),
                                  self.augment_ops)

    def d_loss(d_params):
      critic = lambda x: self.discriminate(d_params, x, phase, alpha)
      scores = critic(jnp.concatenate([reals, fakes]))
      real_scores, fake_scores = scores[:b], scores[b:]
      wasserstein = losses.wasserstein_critic_loss(real_scores, fake_scores)
      gp = losses.gradient_penalty(critic, reals, fakes,
                                   jax.random.uniform(k_eps, (b,)))
      drift = losses.drift_penalty(real_scores)
      total = wasserstein + lc.gp_weight * gp + lc.drift_weight * drift
      real_acc, fake_acc = losses.midpoint_accuracy(real_scores, fake_scores)
      return total, {'d_loss': total, 'd_wasserstein': wasserstein,
                     'penalty': gp, 'drift': drift,
                     'd_real': jnp.mean(real_scores),
                     'd_fake': jnp.mean(fake_scores),
                     'd_real_acc': real_acc, 'd_fake_acc': fake_acc}

    d_grads, metrics = jax.grad(d_loss, has_aux=True)(state.d_params)
    updates, d_opt = self.d_tx.update(d_grads, d_opt, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)

    def g_loss(g_params):
      fake = self.generate(g_params, self._noise(k_g, b), phase, alpha)
      if self.augment_ops:
        fake = diffaugment.augment(fake, jax.random.fold_in(key, 13),
                                   self.augment_ops)
      return losses.wasserstein_generator_loss(
          self.discriminate(d_params, fake, phase, alpha))

    g_value, g_grads = jax.value_and_grad(g_loss)(state.g_params)
    updates, g_opt = self.g_tx.update(g_grads, g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = config.train.ema_decay
    ema_params = (optax.incremental_update(g_params, state.ema_params,
                                           1.0 - decay)
                  if decay > 0 else g_params)
    metrics.update(g_loss=g_value, alpha=alpha,
                   d_grad_norm=optax.tree.norm(d_grads),
                   g_grad_norm=optax.tree.norm(g_grads),
                   diversity=diversity)
    metrics['finite'] = jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    return ProgressiveState(
        step=state.step + 1, g_params=g_params, d_params=d_params,
        g_opt_state=g_opt, d_opt_state=d_opt, ema_params=ema_params), metrics

  # --- Data -----------------------------------------------------------------

  def batches(self, data, start_step):
    seed, phases = self.config.seed, self.phases
    index, count = jax.process_index(), jax.process_count()
    full = 4 * 2**self.levels

    def make(step):
      phase = schedules.phase_at(phases, step)
      positions = schedules.positions(phases, step)
      local = phase.batch_size // count
      positions = positions[index * local:(index + 1) * local]
      images, _ = data.fetch(input_pipeline.stream_indices(
          seed, positions, data.num_examples))
      return {'image': pooled(images, full // phase.resolution)}

    return input_pipeline.prefetched(make, start_step)

  # --- Samples and evaluation --------------------------------------------------

  def predict(self, state, inputs, ema=False):
    """Images at the data's resolution from {'z'}: the generator of the
    state's phase and alpha, upsampled by nearest neighbour."""
    params = state.ema_params if ema else state.g_params
    starts = jnp.asarray([p.start for p in self.phases])
    index = jnp.clip(jnp.searchsorted(starts, state.step, side='right') - 1,
                     0, len(self.phases) - 1)

    def branch(phase):
      def run(z, step):
        return self.generate_full(
            params, z, phase, jnp.clip(schedules.alpha(phase, step), 0.0,
                                       1.0))
      return run

    return jax.lax.switch(index, [branch(p) for p in self.phases],
                          jnp.asarray(inputs['z'], jnp.float32), state.step)

  @classmethod
  def servable(cls, workdir, step=None, best=False, ema=False,
               direction=None):
    """G(z) of the checkpoint's phase and alpha, upsampled to the data's
    side as `predict` (the phase fixed: one network, no switch)."""
    del direction
    from jaxgan import checkpoints  # pylint: disable=g-import-not-at-top
    run = checkpoints.read_run(workdir, step, best, 'progressive')
    family = cls(run.config, tuple(run.meta['sample_shape']))
    params = run.raw['ema_params' if ema else 'g_params']
    phase = family.phase(run.step)
    alpha = float(np.clip(schedules.alpha(phase, run.step), 0.0, 1.0))

    def fn(z):
      return family.generate_full(params, z, phase, alpha)

    latent = run.config.model.latent_dim
    return base.Servable(
        fn, [{'name': 'z', 'shape': [latent], 'dtype': 'float32',
              'range': 'standard normal'}],
        {'name': 'image', 'shape': list(run.meta['sample_shape']),
         'range': [-1, 1]},
        params,
        {'step': run.step, 'config': run.config, 'latent_dim': latent,
         'num_classes': 0, 'phase': phase.name(), 'alpha': alpha})

  def sample_inputs(self, data, num):
    del data
    return {'z': gan.fixed_noise(self.config, num)}

  def draw_samples(self, path, inputs, outputs, data):
    writers.draw_samples(path, outputs, data.name)

  def networks(self, state):
    return {'generator': state.g_params, 'discriminator': state.d_params}

  def evaluator(self, data, workdir, write=True):
    from jaxgan.families.progressive import evaluation  # pylint: disable=g-import-not-at-top
    return evaluation.ProgressiveEvaluator(self.config, data, workdir, write)


def make_phases(config, spec) -> list[schedules.Phase]:
  t = config.train
  return schedules.make_phases(progan.levels_of(spec), t.stable_images,
                               t.fade_images, tuple(t.batch_sizes),
                               t.batch_size, t.final_images)


def pooled(images: np.ndarray, factor: int) -> np.ndarray:
  """uint8 (B, S, S, C) -> float32 in [-1, 1] average-pooled by factor."""
  x = images.astype(np.float32) / 127.5 - 1.0
  if factor == 1:
    return x
  b, h, w, c = x.shape
  return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(
      axis=(2, 4))
