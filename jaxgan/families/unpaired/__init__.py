"""Unpaired translation: CycleGAN (Zhu et al. 2017), config.family unpaired.

Two domains A and B and no pairs. Two generators, G_A: A -> B and G_B:
B -> A (the authors' names; `resnet_9blocks` by default), two
discriminators, D_A on domain B (G_A's fakes) and D_B on domain A, each a
70x70 PatchGAN with instance norm. One iteration, as the authors'
`optimize_parameters`:

  fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A)
  G step (one Adam over both generators, D frozen):
    L_G = GAN(D_A(fake_B)) + GAN(D_B(fake_A))
          + lambda_A |rec_A - A|_1 + lambda_B |rec_B - B|_1
          + lambda_idt (lambda_B |G_A(B) - B|_1 + lambda_A |G_B(A) - A|_1)
  D step (one Adam over both discriminators), on fakes from the pools:
    L_D = 0.5 (GAN_D(D_A(B), D_A(pool_B(fake_B))))
          + 0.5 (GAN_D(D_B(A), D_B(pool_A(fake_A))))

with LSGAN losses (the authors' GANLoss('lsgan'): MSE against 1 and 0;
jaxgan's least_squares carries Mao et al.'s 1/2, so G's term is scaled by
`loss.g_loss_scale` = 2 and D's 1/2 is already there), lambda_A = lambda_B
= 10, lambda_idt = 0.5, Adam 2e-4 (0.5, 0.999), batch 1, n_epochs constant
then n_epochs_decay linearly to 0 (the paired family's schedule). The pools
(`pool.py`, 50 fakes each) are state, so a resumed run draws what an
uninterrupted one would.

`data.py`: the two domains' folders and their two independent orders.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import diffaugment
from jaxgan import errors
from jaxgan import health
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan import networks
from jaxgan import writers
from jaxgan.families import base
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import linear_decay
from jaxgan.families.unpaired import data as unpaired_data
from jaxgan.families.unpaired import pool as image_pool
from jaxgan.networks import resnet_generator
from jaxgan.networks import unet

GENERATORS = tuple(resnet_generator.RESNETS) + unet.UNETS
# name -> (the domain it reads, the domain it makes).
G_DOMAINS = {'G_A': ('A', 'B'), 'G_B': ('B', 'A')}
DIRECTIONS = ('AtoB', 'BtoA')  # jaxgan.translate --direction: G_A, G_B.
# D_A judges domain B (G_A's fakes), D_B domain A.
D_DOMAINS = {'D_A': 'B', 'D_B': 'A'}


@flax.struct.dataclass
class UnpairedState:
  """Everything a CycleGAN iteration reads and writes, as one pytree."""
  step: jax.Array
  g_params: Any  # {'G_A': ..., 'G_B': ...}
  g_state: Any  # Their BatchNorm statistics ({} each with instance norm).
  g_opt_state: Any  # One Adam for both generators (the authors').
  d_params: Any  # {'D_A': ..., 'D_B': ...}
  d_state: Any
  d_opt_state: Any
  pools: Any  # {'B': pool of fake B (D_A's), 'A': pool of fake A (D_B's)}


def add_config(config: ml_collections.ConfigDict):
  """The unpaired family's fields, with the CycleGAN authors' defaults."""
  data = config.data
  # 'unaligned': two folders under data_dir; or a tfds name whose splits
  # are the domains (cycle_gan/horse2zebra, ...; `data.py`).
  data.name = unpaired_data.FOLDERS
  data.train_dirs = ('trainA', 'trainB')  # Under data_dir: domains A, B.
  data.eval_dirs = ('testA', 'testB')
  data.channels = ml_collections.config_dict.placeholder(int)  # 1, 3, file's
  data.preprocess = 'resize_and_crop'  # resize_and_crop | crop | none
  data.load_size = 286
  data.crop_size = 256
  data.flip = True

  m = config.model = ml_collections.ConfigDict()
  m.generator = 'resnet_9blocks'  # resnet_9blocks | resnet_6blocks | unet_*
  m.discriminator = 'patchgan'
  m.n_layers = 3
  m.g_features = 64
  m.d_features = 64
  m.norm = 'instance'
  m.dropout = False  # The authors' --no_dropout default for CycleGAN.
  m.conv_impl = 'auto'
  m.pool_size = 50

  loss = config.loss = ml_collections.ConfigDict()
  loss.name = 'least_squares'
  loss.g_loss_scale = 2.0  # The authors' MSE against 1 (see the module).
  loss.d_loss_scale = 1.0  # least_squares' 1/2 is the authors' halving.
  loss.lambda_a = 10.0
  loss.lambda_b = 10.0
  loss.lambda_identity = 0.5

  train = config.train
  diffaugment.add_config(config)
  train.batch_size = 1
  train.num_steps = 0  # 0: (n_epochs + n_epochs_decay) epochs.
  train.n_epochs = 100
  train.n_epochs_decay = 100
  for name in ('g_optimizer', 'd_optimizer'):
    train[name] = ml_collections.ConfigDict(
        dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999))
  config.num_samples = 4
  config.sample_every = 1000
  # Evaluation on the eval_dirs images (`evaluation.py`): the cycle L1 and,
  # with eval.fid, each direction's Inception FID and KID.
  config.eval.num_examples = 0  # 0: every evaluation image.
  config.eval.fid = False
  config.eval.metric = 'cycle'  # The best checkpoint's: cycle | fid.
  # The success rates' domain classifier: '' none, 'auto' the one trained
  # for these domains (`domain_classifier.py`), or its .npz path.
  config.eval.classifier = ''


def _l1(a, b):
  return jnp.mean(jnp.abs(a - b))


class Unpaired(base.Family):
  """CycleGAN: two generators, two discriminators, the pools."""
  name = 'unpaired'
  weights = ('g_params', 'g_state', 'd_params', 'd_state')

  @classmethod
  def add_config(cls, config):
    add_config(config)

  @classmethod
  def validate(cls, config):
    super().validate(config)
    m, loss = config.model, config.loss
    if m.generator not in GENERATORS:
      raise errors.ConfigError(
          f'config.model.generator={m.generator!r}: the unpaired family '
          f'builds one of {GENERATORS}')
    if loss.name not in losses.GAN_LOSSES or losses.GAN_LOSSES[
        loss.name].relativistic:
      raise errors.ConfigError(
          f'config.loss.name={loss.name!r}: use least_squares (the '
          'authors\'), non_saturating or hinge')
    for name in ('lambda_a', 'lambda_b', 'lambda_identity', 'g_loss_scale',
                 'd_loss_scale'):
      if loss[name] < 0:
        raise errors.ConfigError(f'config.loss.{name} must be 0 or more')
    if config.eval.metric not in ('cycle', 'fid'):
      raise errors.ConfigError(
          f'config.eval.metric={config.eval.metric!r}: use cycle or fid')
    if config.eval.metric == 'fid' and not config.eval.fid:
      raise errors.ConfigError('config.eval.metric=fid needs '
                               'config.eval.fid=True')
    if m.pool_size < 0:
      raise errors.ConfigError('config.model.pool_size must be 0 (no pool) '
                               'or more')

  @classmethod
  def create_data(cls, config):
    return unpaired_data.UnpairedData(config)

  @classmethod
  def resolve(cls, config, data):
    spec = cls._g_spec(data.spec)
    networks.check('generator', config.model.generator, config, spec)
    networks.check('discriminator', config.model.discriminator, config, spec)
    if not config.train.num_steps:
      config.train.num_steps = (
          (config.train.n_epochs + config.train.n_epochs_decay) *
          paired_data.steps_per_epoch(config.train.batch_size,
                                      data.num_examples))

  @staticmethod
  def _g_spec(spec):
    return {'source': spec['A'], 'target': spec['B'],
            'num_examples': spec['num_examples']}

  def __init__(self, config, spec, axis_name=None, batch_sharding=None):
    super().__init__(config, spec, axis_name, batch_sharding)
    m = config.model
    g_spec = self._g_spec(spec)
    # Both generators (both discriminators) are one module applied with two
    # parameter sets: the domains have the same shape.
    self.generator = networks.build('generator', m.generator, config, g_spec,
                                    axis_name=axis_name)
    self.discriminator = networks.build('discriminator', m.discriminator,
                                        config, g_spec, axis_name=axis_name)
    schedule = linear_decay(
        config.train.n_epochs, config.train.n_epochs_decay,
        paired_data.steps_per_epoch(config.train.batch_size,
                                    spec['num_examples']))
    self.g_tx = base.make_optimizer(config.train.g_optimizer,
                                    schedule=schedule)
    self.d_tx = base.make_optimizer(config.train.d_optimizer,
                                    schedule=schedule)
    gan_loss = losses.GAN_LOSSES[config.loss.name]
    self.d_loss_fn, self.g_loss_fn = gan_loss.discriminator, gan_loss.generator
    self.d_accuracy = gan_loss.accuracy
    self.augment_ops = diffaugment.ops_from_config(config)

  # --- Networks ----------------------------------------------------------

  def generate(self, name, g_params, g_state, x, train=True):
    """G_A or G_B of x -> (image, g_state with that network's statistics)."""
    variables = {'params': g_params[name], **g_state[name]}
    if train and g_state[name]:
      y, new = self.generator.apply(variables, x, train=True,
                                    mutable=['batch_stats'])
      return y, {**g_state, name: dict(new)}
    return self.generator.apply(variables, x, train=train), g_state

  def discriminate(self, name, d_params, d_state, x, key=None):
    """D_A or D_B's patch logits of x (training mode), flat; with
    DiffAugment and a `key`, of x transformed."""
    if self.augment_ops and key is not None:
      x = diffaugment.augment(x, key, self.augment_ops)
    variables = {'params': d_params[name], **d_state[name]}
    if d_state[name]:
      logits, new = self.discriminator.apply(variables, x, train=True,
                                             mutable=['batch_stats'])
      return logits.reshape(-1), {**d_state, name: dict(new)}
    return self.discriminator.apply(variables, x,
                                    train=True).reshape(-1), d_state

  def init(self, key):
    x = jnp.zeros((2,) + tuple(self.spec['A']))
    g_params, g_state, d_params, d_state = {}, {}, {}, {}
    for i, name in enumerate(G_DOMAINS):
      v = dict(self.generator.init(jax.random.fold_in(key, i), x,
                                   train=False))
      g_params[name], g_state[name] = v.pop('params'), v
    for i, name in enumerate(D_DOMAINS):
      v = dict(self.discriminator.init(jax.random.fold_in(key, 10 + i), x,
                                       train=False))
      d_params[name], d_state[name] = v.pop('params'), v
    size = self.config.model.pool_size
    pools = {d: image_pool.empty(size, self.spec[d]) for d in ('A', 'B')}
    return UnpairedState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, g_state=g_state,
        g_opt_state=self.g_tx.init(g_params), d_params=d_params,
        d_state=d_state, d_opt_state=self.d_tx.init(d_params), pools=pools)

  # --- The iteration -------------------------------------------------------

  def update(self, state, batch):
    """One iteration on {'A': (B, ...), 'B': (B, ...)} uint8."""
    lc = self.config.loss
    real = {d: input_pipeline.to_model_input(batch[d]) for d in ('A', 'B')}
    if self.batch_sharding is not None:
      real = {d: jax.lax.with_sharding_constraint(x, self.batch_sharding)
              for d, x in real.items()}
    lambdas = {'A': lc.lambda_a, 'B': lc.lambda_b}
    key = jax.random.fold_in(jax.random.key(self.config.seed), state.step)
    augment_key = lambda name, i: jax.random.fold_in(
        key, 100 + 10 * i + (name == 'D_B'))

    def g_loss(g_params):
      st, out = state.g_state, {}
      fake = {}
      fake['B'], st = self.generate('G_A', g_params, st, real['A'])
      rec_a, st = self.generate('G_B', g_params, st, fake['B'])
      fake['A'], st = self.generate('G_B', g_params, st, real['B'])
      rec_b, st = self.generate('G_A', g_params, st, fake['A'])
      out['cycle_A'] = _l1(rec_a, real['A'])
      out['cycle_B'] = _l1(rec_b, real['B'])
      total = lambdas['A'] * out['cycle_A'] + lambdas['B'] * out['cycle_B']
      if lc.lambda_identity > 0:
        # G_A fed a real B should return it (and G_B a real A).
        idt_b, st = self.generate('G_A', g_params, st, real['B'])
        idt_a, st = self.generate('G_B', g_params, st, real['A'])
        out['idt_A'] = _l1(idt_b, real['B'])
        out['idt_B'] = _l1(idt_a, real['A'])
        total = total + lc.lambda_identity * (
            lambdas['B'] * out['idt_A'] + lambdas['A'] * out['idt_B'])
      d_st = state.d_state
      for name, domain in D_DOMAINS.items():
        logits, d_st = self.discriminate(name, state.d_params, d_st,
                                         fake[domain], augment_key(name, 0))
        out[f'gan_{name[-1]}'] = lc.g_loss_scale * self.g_loss_fn(logits)
        total = total + out[f'gan_{name[-1]}']
      return total, (out, st, d_st, fake)

    (g_total, (g_metrics, g_state, d_state, fake)), g_grads = (
        jax.value_and_grad(g_loss, has_aux=True)(state.g_params))
    updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state,
                                            state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)

    # The discriminators see fakes from the pools (the pre-update G's).
    pools, pooled = {}, {}
    for i, domain in enumerate(('A', 'B')):
      pooled[domain], pools[domain] = image_pool.query(
          state.pools[domain], jax.lax.stop_gradient(fake[domain]),
          jax.random.fold_in(key, i))

    def d_loss(d_params):
      d_st, out, total = d_state, {}, 0.0
      for name, domain in D_DOMAINS.items():
        real_logits, d_st = self.discriminate(name, d_params, d_st,
                                              real[domain],
                                              augment_key(name, 1))
        fake_logits, d_st = self.discriminate(name, d_params, d_st,
                                              pooled[domain],
                                              augment_key(name, 2))
        out[f'd_{name[-1]}'] = lc.d_loss_scale * self.d_loss_fn(
            real_logits, fake_logits)
        (out[f'd_{name[-1]}_real_acc'],
         out[f'd_{name[-1]}_fake_acc']) = self.d_accuracy(real_logits,
                                                         fake_logits)
        total = total + out[f'd_{name[-1]}']
      return total, (out, d_st)

    (d_total, (d_metrics, d_state)), d_grads = jax.value_and_grad(
        d_loss, has_aux=True)(state.d_params)
    updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state,
                                            state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    metrics = {'g_loss': g_total, 'd_loss': d_total,
               'g_grad_norm': optax.tree.norm(g_grads),
               'd_grad_norm': optax.tree.norm(d_grads),
               **{f'g_{k}': v for k, v in g_metrics.items()},
               **d_metrics}
    # The training-health signals (jaxgan/health.py), over both directions.
    for side in ('real', 'fake'):
      metrics[f'd_{side}_acc'] = 0.5 * (metrics[f'd_A_{side}_acc'] +
                                        metrics[f'd_B_{side}_acc'])
    metrics['diversity'] = 0.5 * sum(
        health.diversity_ratio(fake[d], real[d]) for d in ('A', 'B'))
    metrics['finite'] = jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    return UnpairedState(
        step=state.step + 1, g_params=g_params, g_state=g_state,
        g_opt_state=g_opt_state, d_params=d_params, d_state=d_state,
        d_opt_state=d_opt_state, pools=pools), metrics

  # --- What the loop asks for ---------------------------------------------

  def batches(self, data, start_step):
    return input_pipeline.prefetched(
        lambda step: data.batch(step, jax.process_index(),
                                jax.process_count()), start_step)

  @classmethod
  def servable(cls, workdir, step=None, best=False, ema=False,
               direction=None):
    """One of the run's generators (`direction` AtoB, the default: G_A;
    BtoA: G_B), as `python -m jaxgan.translate --direction` applies it."""
    from jaxgan import translate  # pylint: disable=g-import-not-at-top
    if ema:
      raise errors.ConfigError('the unpaired family keeps no EMA generator: '
                               'drop --ema')
    t = translate.load(workdir, step, best, direction or 'AtoB')
    src = t.direction[0]
    name = next(n for n, (a, _) in G_DOMAINS.items() if a == src)
    family, state = t.family, t.state

    def fn(image):
      return family.generate(name, state.g_params, state.g_state,
                             input_pipeline.to_model_input(image),
                             train=False)[0]

    shape = list(t.meta['sample_shape'])
    return base.Servable(
        fn, [{'name': 'image', 'shape': shape, 'dtype': 'float32',
              'range': [-1, 1]}],
        {'name': 'image_out', 'shape': shape, 'range': [-1, 1]},
        {'params': state.g_params[name], **state.g_state[name]},
        {'step': t.step, 'config': t.config, 'direction': t.direction,
         'network': name})

  def predict(self, state, inputs, ema=False):
    """Inference mode: {'A'} -> fake_B and rec_A, {'B'} -> fake_A and
    rec_B (whichever domains `inputs` holds), in [-1, 1]."""
    if ema:
      raise errors.ConfigError('the unpaired family keeps no EMA generator')
    out = {}
    for name, (src, dst) in G_DOMAINS.items():
      if src in inputs:
        x = input_pipeline.to_model_input(inputs[src])
        fake = self.generate(name, state.g_params, state.g_state, x,
                             train=False)[0]
        back = 'G_B' if name == 'G_A' else 'G_A'
        out[f'fake_{dst}'] = fake
        out[f'rec_{src}'] = self.generate(back, state.g_params,
                                          state.g_state, fake,
                                          train=False)[0]
    return out

  def sample_inputs(self, data, num):
    """The first evaluation images of each domain (training images when
    there are none): the grid shows the same inputs all run long."""
    if data.eval:
      return data.eval_images(num)
    ch, cw = data.crop_hw
    return {d: x[:num, :ch, :cw] for d, x in data.train.items()}

  def draw_samples(self, path, inputs, outputs, data):
    """Rows: real A | G_A(A) | G_B(G_A(A)) | real B | G_B(B) | G_A(G_B(B))."""
    del data
    n = min(len(inputs['A']), len(inputs['B']))
    writers.save_image(path, writers.column_grid(
        [inputs['A'][:n], outputs['fake_B'][:n], outputs['rec_A'][:n],
         inputs['B'][:n], outputs['fake_A'][:n], outputs['rec_B'][:n]]))

  def evaluator(self, data, workdir, write=True):
    if not data.eval:
      return None
    from jaxgan.families.unpaired import evaluation  # pylint: disable=g-import-not-at-top
    return evaluation.UnpairedEvaluator(self.config, data, workdir, write)

  def networks(self, state):
    return {**{n: state.g_params[n] for n in G_DOMAINS},
            **{n: state.d_params[n] for n in D_DOMAINS}}
