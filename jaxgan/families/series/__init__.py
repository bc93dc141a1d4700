"""Time-series anomaly detection: TadGAN (Geiger et al. 2020), config.family
series.

One signal's rolling windows x (B, T, 1) in [-1, 1] (`data.py`: Orion's
aggregation, imputation, scaling and windows). An encoder E maps windows to
latents z (B, L, 1), a generator G latents to windows, a critic Cx judges
windows and a critic Cz latents (`networks/tadgan.py`). One iteration, as
Orion's TadGAN._fit for one minibatch of n_critic x B windows:

  for each of the n_critic batches x_j, with fresh z_j ~ N(0, 1):
    Cx step: -mean Cx(x_j) + mean Cx(G(z_j)) + 10 GP_Cx(x_j, G(z_j))
    Cz step: -mean Cz(z_j) + mean Cz(E(x_j)) + 10 GP_Cz(z_j, E(x_j))
  E and G step (one Adam over both), on the last x_j, z_j:
    -mean Cx(G(z)) - mean Cz(E(x)) + 10 mean (G(E(x)) - x)^2

(Keras's Wasserstein loss mean(y_true * y_pred) with real = -1 and fake =
+1; GP the WGAN-GP penalty, `losses.gradient_penalty`). Dropout is on in
every training pass (Keras's train_on_batch) except the penalty's critic
pass, which Keras calls outside the training context. Adam 5e-4 (Orion's
primitive JSON, which its pipelines and benchmark use; the Python class's
own default, 5e-3, is never reached through them), Keras's beta (0.9,
0.999) and epsilon 1e-7. An epoch is Orion's: a fresh permutation of the
windows, cut into floor(n / (n_critic B)) minibatches, the rest left out.

Detection (`detect.py`) reconstructs every window as G(E(x)), scores each
with Cx, and turns both into intervals as Orion's score_anomalies and
find_anomalies; `scoring.py` has Orion's benchmark scores.
"""

import io
from typing import Any

from etils import epath
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import errors
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan.families import base
from jaxgan.families.series import data as series_data
from jaxgan.families.series import detect
from jaxgan.networks import tadgan as nets

NETWORKS = ('encoder', 'generator', 'critic_x', 'critic_z')


@flax.struct.dataclass
class SeriesState:
  """E, G, Cx and Cz with their three Adams (E and G share one)."""
  step: jax.Array
  params: Any  # {'encoder', 'generator', 'critic_x', 'critic_z'}
  eg_opt_state: Any
  cx_opt_state: Any
  cz_opt_state: Any


def add_config(config: ml_collections.ConfigDict):
  """The series family's fields, with Orion's `tadgan` defaults."""
  data = config.data
  data.name = 'csv'
  # One signal: a CSV file, or a NAB key under data_dir (NAB's folder:
  # data_dir/data/<signal>, labels data_dir/labels/combined_windows.json).
  data.csv = ''
  data.signal = ''
  data.labels = ''  # '' : NAB's when data_dir is NAB's, else none.
  data.time_column = 'timestamp'
  data.value_column = 'value'
  # Seconds per aggregated point; 0: the NAB group's (Orion's per-dataset
  # files: 600 s, realAdExchange 3,600 s), else Orion's default 21,600 s.
  data.interval = 0
  data.window = 100

  m = config.model = ml_collections.ConfigDict()
  m.latent_dim = 20
  m.encoder_units = 100
  m.generator_units = 64
  m.generator_dropout = 0.2  # Keras's dropout and recurrent_dropout.
  m.critic_x_features = 64
  m.critic_x_kernel = 5
  m.critic_x_dropout = 0.25
  m.critic_z_features = 20
  m.critic_z_dropout = 0.2

  loss = config.loss = ml_collections.ConfigDict()
  loss.gp_weight = 10.0
  loss.rec_weight = 10.0

  train = config.train
  train.batch_size = 64
  train.n_critic = 5
  train.epochs = 35  # Orion's pipeline.
  train.num_steps = 0  # 0: epochs x the windows' minibatches per epoch.
  train.optimizer = ml_collections.ConfigDict(
      dict(name='adam', learning_rate=5e-4, b1=0.9, b2=0.999, eps=1e-7))
  config.log_every = 50
  config.sample_every = 0
  # Detection (and its scores) every eval_every steps and at the end; 0:
  # at the end only (`evaluation.py`): the detector is the run's product.
  config.eval_every = 0
  config.checkpoint_every = 500
  config.num_samples = 4

  # The detector (Orion's score_anomalies and find_anomalies as its
  # `tadgan` pipeline sets them; the NAB groups' comb and lambda_rec come
  # from `NAB_SCORING`).
  e = config.eval
  e.score_window = 10
  e.rec_error_type = 'dtw'
  e.comb = ''  # '': the NAB group's (NAB_SCORING), else 'mult'.
  e.lambda_rec = 0.5
  e.window_size_portion = 0.33
  e.window_step_size_portion = 0.1
  e.fixed_threshold = True
  e.min_percent = 0.13
  e.anomaly_padding = 50


# Orion's per-dataset score_anomalies settings (tadgan_<group>.json).
NAB_SCORING = {
    'artificialWithAnomaly': ('mult', 0.5),
    'realAWSCloudwatch': ('mult', 0.5),
    'realAdExchange': ('sum', 0.5),
    'realTraffic': ('sum', 0.5),
    'realTweets': ('sum', 0.5),
}


class Series(base.Family):
  """TadGAN: E, G, Cx, Cz; batches (n_critic, B, T, 1)."""
  name = 'series'
  batch_axis = 1
  data_order_keys = ('train.batch_size', 'train.n_critic', 'data.window',
                     'data.interval')
  weights = ('params',)

  @classmethod
  def add_config(cls, config):
    add_config(config)

  @classmethod
  def validate(cls, config):
    super().validate(config)
    if config.data.window < 4 or config.data.window % 2:
      raise errors.ConfigError(
          f'config.data.window={config.data.window}: TadGAN\'s generator '
          'upsamples half a window by 2, so the window is even (4 or more)')
    shrink = 4 * (config.model.critic_x_kernel - 1)  # Cx's 4 'valid' convs.
    if config.data.window <= shrink:
      raise errors.ConfigError(
          f'config.data.window={config.data.window}: Cx\'s four unpadded '
          f'convolutions of {config.model.critic_x_kernel} take {shrink} '
          'points off a window; use a longer window or a smaller '
          'config.model.critic_x_kernel')
    if config.train.n_critic < 1:
      raise errors.ConfigError('config.train.n_critic must be at least 1')
    if config.eval.rec_error_type not in detect.REC_ERRORS:
      raise errors.ConfigError(
          f'config.eval.rec_error_type={config.eval.rec_error_type!r}: one '
          f'of {detect.REC_ERRORS}')
    if config.eval.comb not in detect.COMBINATIONS + ('',):
      raise errors.ConfigError(f'config.eval.comb={config.eval.comb!r}: one '
                               f'of {detect.COMBINATIONS}')

  @classmethod
  def create_data(cls, config):
    return series_data.SeriesData(config)

  @classmethod
  def resolve(cls, config, data):
    per_epoch = data.steps_per_epoch
    if per_epoch < 1:
      raise series_data.DataError(
          f'{data.name} has {data.num_examples} windows, fewer than one '
          f'minibatch of n_critic x batch_size = '
          f'{config.train.n_critic * config.train.batch_size}: lower '
          '--config.train.batch_size')
    if not config.train.num_steps:
      config.train.num_steps = config.train.epochs * per_epoch
    if not config.eval_every:
      config.eval_every = config.train.num_steps
    if not config.eval.comb:
      config.eval.comb = NAB_SCORING.get(data.name.split('/')[0],
                                         ('mult',))[0]

  def __init__(self, config, spec, axis_name=None, batch_sharding=None):
    super().__init__(config, spec, axis_name, batch_sharding)
    m, window = config.model, config.data.window
    self.window, self.latent_dim = window, m.latent_dim
    self.nets = {
        'encoder': nets.Encoder(m.latent_dim, m.encoder_units),
        'generator': nets.Generator(window, m.generator_units,
                                    m.generator_dropout, m.generator_dropout),
        'critic_x': nets.CriticX(m.critic_x_features, m.critic_x_kernel,
                                 dropout=m.critic_x_dropout),
        'critic_z': nets.CriticZ(m.critic_z_features, m.critic_z_dropout),
    }
    self.tx = base.make_optimizer(config.train.optimizer)

  @property
  def examples_per_step(self):
    return self.config.train.n_critic * self.config.train.batch_size

  def apply(self, name, params, x, key=None):
    """A network on x; dropout on when a key is given (training)."""
    if key is None:
      return self.nets[name].apply({'params': params[name]}, x)
    return self.nets[name].apply({'params': params[name]}, x, train=True,
                                 rngs={'dropout': key})

  def init(self, key):
    x = jnp.zeros((1, self.window, 1))
    z = jnp.zeros((1, self.latent_dim, 1))
    inputs = {'encoder': x, 'generator': z, 'critic_x': x, 'critic_z': z}
    params = {name: self.nets[name].init(jax.random.fold_in(key, i),
                                         inputs[name])['params']
              for i, name in enumerate(NETWORKS)}
    params = nets.keras_forget_bias(params)
    eg = {k: params[k] for k in ('encoder', 'generator')}
    return SeriesState(
        step=jnp.zeros((), jnp.int32), params=params,
        eg_opt_state=self.tx.init(eg),
        cx_opt_state=self.tx.init(params['critic_x']),
        cz_opt_state=self.tx.init(params['critic_z']))

  # --- The iteration -------------------------------------------------------

  def update(self, state, batch):
    """One generator step after n_critic steps of each critic, on
    {'series': (n_critic, B, T, 1)}."""
    lc = self.config.loss
    xs = batch['series']
    n_critic, b = xs.shape[:2]
    key = jax.random.fold_in(jax.random.key(self.config.seed), state.step)
    keys = jax.random.split(key, n_critic + 1)
    z_shape = (b, self.latent_dim, 1)

    def critic_loss(critic, c_params, real, fake, k):
      params = {**state.params, critic: c_params}
      k_scores, k_gp = jax.random.split(k)
      gp = losses.gradient_penalty(
          lambda v: self.apply(critic, params, v)[:, 0], real, fake,
          jax.random.uniform(k_gp, (b,)))
      # Real and fake in one pass (each example its own dropout masks).
      scores = self.apply(critic, params, jnp.concatenate([real, fake]),
                          k_scores)
      wasserstein = -jnp.mean(scores[:b]) + jnp.mean(scores[b:])
      accuracy = losses.midpoint_accuracy(scores[:b], scores[b:])
      return wasserstein + lc.gp_weight * gp, (wasserstein, gp, accuracy)

    # E and G do not change during the critic steps, so the fakes of all
    # n_critic steps come from one pass of each over n_critic x B examples
    # (Orion makes them one step at a time; the same distribution, and one
    # LSTM loop instead of n_critic).
    k_z, k_g, k_e = jax.random.split(keys[-1], 3)
    zs = jax.random.normal(k_z, (n_critic,) + z_shape)
    flat = lambda v: v.reshape((n_critic * b,) + v.shape[2:])
    fakes_x = self.apply('generator', state.params, flat(zs), k_g).reshape(
        xs.shape)
    fakes_z = self.apply('encoder', state.params, flat(xs), k_e).reshape(
        zs.shape)

    def critic_steps(params, opts, inputs):
      x, z, fake_x, fake_z, k = inputs
      k_x, k_zz = jax.random.split(k)
      out = {}
      for critic, real, fake, kk in (('critic_x', x, fake_x, k_x),
                                     ('critic_z', z, fake_z, k_zz)):
        (total, (w, gp, accuracy)), grads = jax.value_and_grad(
            critic_loss, argnums=1, has_aux=True)(
                critic, params[critic], jax.lax.stop_gradient(real),
                jax.lax.stop_gradient(fake), kk)
        updates, opt = self.tx.update(grads, opts[critic], params[critic])
        params = {**params, critic: optax.apply_updates(params[critic],
                                                        updates)}
        opts = {**opts, critic: opt}
        tag = critic[-1]
        out.update({f'c{tag}_loss': total, f'c{tag}_wasserstein': w,
                    f'c{tag}_gp': gp, f'c{tag}_real_acc': accuracy[0],
                    f'c{tag}_fake_acc': accuracy[1]})
      return params, opts, out

    # Unrolled: XLA:CPU ran these steps inside a while loop (lax.scan)
    # several times slower.
    params, c_metrics = state.params, []
    opts = {'critic_x': state.cx_opt_state, 'critic_z': state.cz_opt_state}
    for j in range(n_critic):
      params, opts, out = critic_steps(
          params, opts, (xs[j], zs[j], fakes_x[j], fakes_z[j], keys[j]))
      c_metrics.append(out)
    cx_opt, cz_opt = opts['critic_x'], opts['critic_z']
    c_metrics = jax.tree.map(lambda *v: jnp.stack(v), *c_metrics)
    x, z = xs[-1], zs[-1]

    def eg_loss(eg):
      p = {**params, **eg}
      k_g, k_e, k_cx, k_cz = jax.random.split(jax.random.fold_in(
          keys[-1], 1), 4)
      fake_z = self.apply('encoder', p, x, k_e)
      # G(z) and G(E(x)) in one pass over 2B latents.
      both = self.apply('generator', p, jnp.concatenate([z, fake_z]), k_g)
      fake_x, rec = both[:b], both[b:]
      adv_x = -jnp.mean(self.apply('critic_x', p, fake_x, k_cx))
      adv_z = -jnp.mean(self.apply('critic_z', p, fake_z, k_cz))
      mse = jnp.mean(jnp.square(rec - x))
      return adv_x + adv_z + lc.rec_weight * mse, (adv_x, adv_z, mse)

    eg = {k: params[k] for k in ('encoder', 'generator')}
    (eg_total, (adv_x, adv_z, mse)), grads = jax.value_and_grad(
        eg_loss, has_aux=True)(eg)
    updates, eg_opt = self.tx.update(grads, state.eg_opt_state, eg)
    params = {**params, **optax.apply_updates(eg, updates)}
    metrics = {k: jnp.mean(v) for k, v in c_metrics.items()}
    metrics.update(eg_loss=eg_total, eg_cx=adv_x, eg_cz=adv_z, eg_mse=mse,
                   eg_grad_norm=optax.tree.norm(grads))
    # The training-health signal (jaxgan/health.py) is the window critic's
    # accuracy, logged once under the name the rules read.
    metrics['d_real_acc'] = metrics.pop('cx_real_acc')
    metrics['d_fake_acc'] = metrics.pop('cx_fake_acc')
    metrics['finite'] = jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    return SeriesState(step=state.step + 1, params=params, eg_opt_state=eg_opt,
                       cx_opt_state=cx_opt, cz_opt_state=cz_opt), metrics

  # --- What the loop asks for ---------------------------------------------

  def batches(self, data, start_step):
    return input_pipeline.prefetched(
        lambda step: data.batch(step, jax.process_index(),
                                jax.process_count()), start_step)

  def predict(self, state, inputs, ema=False):
    """{'series': (n, T, 1)} -> {'reconstruction': G(E(x)), 'critic':
    Cx(x) (n,)}, inference mode."""
    if ema:
      raise errors.ConfigError('the series family keeps no EMA generator')
    x = inputs['series']
    rec = self.apply('generator', state.params,
                     self.apply('encoder', state.params, x))
    return {'reconstruction': rec,
            'critic': self.apply('critic_x', state.params, x)[:, 0]}

  def sample_inputs(self, data, num):
    idx = np.linspace(0, data.num_examples - 1, num).astype(int)
    return {'series': data.windows[idx, :, None]}

  def draw_samples(self, path, inputs, outputs, data):
    """The windows (grey) and their reconstructions G(E(x)) (red)."""
    del data
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
    n = len(inputs['series'])
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.6 * n), squeeze=False)
    for ax, x, r in zip(axes[:, 0], inputs['series'],
                        outputs['reconstruction']):
      ax.plot(x[:, 0], color='0.4')
      ax.plot(r[:, 0], color='tab:red')
      ax.set_ylim(-1.05, 1.05)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    plt.close(fig)
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())

  def networks(self, state):
    return dict(state.params)

  def evaluator(self, data, workdir, write=True):
    from jaxgan.families.series import evaluation  # pylint: disable=g-import-not-at-top
    return evaluation.SeriesEvaluator(self.config, data, workdir, write)
