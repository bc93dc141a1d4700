"""Paired image-to-image translation: pix2pix (Isola et al. 2017).

A generator G maps a source image to a target (the U-Net, `networks.unet`),
a discriminator D judges (source, image) pairs patch by patch (the PatchGAN,
`networks.patchgan`; `model.d_conditional=False` shows it the image alone,
the paper's unconditional ablation). One iteration is the authors'
`optimize_parameters`: G(source); a D update on the real pair and on the
fake pair with G's output held fixed,

  L_D = d_loss_scale * [BCE(D(s, t), 1) + BCE(D(s, G(s)), 0)]   (scale 1/2)

then a G update through the updated D,

  L_G = adversarial_weight * BCE(D(s, G(s)), 1) + l1_weight * |t - G(s)|_1

(eq. 4 of the paper, lambda = 100; `adversarial_weight` 0 is the paper's
"L1 only", `l1_weight` 0 its "cGAN only"). Both use Adam 2e-4 (0.5, 0.999)
at a constant rate for `n_epochs`, then decaying linearly over
`n_epochs_decay` (the authors' 'linear' policy, stepped once an epoch).
Dropout is G's only noise; BatchNorm uses the batch's statistics in training
(with batch 1 that is instance normalisation, as the authors train).
`predict` runs in inference mode (running statistics, no dropout) unless
`model.predict_train_mode` is set, which is what the paper does at test
time (its sec. 3.3: dropout and batch statistics at inference).

The same iteration serves super-resolution (Ledig et al. 2017): with
`data.name='super_resolution'` the batch holds the HR crops alone and the
source is made from them in `update` (`TASKS`: MATLAB's bicubic downscale),
G is SRResNet, D the SRGAN discriminator on the HR image alone, and the
content term is pixel MSE (`loss.mse_weight`; SRGAN adds 1e-3 of the
adversarial loss, `configs/srgan.py`). So L_G is the sum of the weighted
terms, each left out at weight 0:

  L_G = adversarial_weight * GAN + l1_weight * L1 + mse_weight * MSE
        + vgg_weight * VGG (the rescaled VGG19 feature distance, eq. 5)
"""

import dataclasses
import os
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import diffaugment
from jaxgan import errors
from jaxgan.families import base
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import inpainting
from jaxgan.families.paired import sr_data
from jaxgan import health
from jaxgan import imresize
from jaxgan import input_pipeline
from jaxgan import losses
from jaxgan import networks
from jaxgan.networks import resnet_generator
from jaxgan.networks import srresnet
from jaxgan.networks import unet
from jaxgan.networks import vgg
from jaxgan import writers


@flax.struct.dataclass
class PairedState:
  """Everything a pix2pix iteration reads and writes, as one pytree."""
  step: jax.Array
  g_params: Any
  g_state: Any  # G's BatchNorm statistics ({} when none).
  g_opt_state: Any
  d_params: Any
  d_state: Any
  d_opt_state: Any


def _given_source(config, batch, target, step):
  del config, target, step
  return input_pipeline.to_model_input(batch['source']), {}


def _bicubic_source(config, batch, target, step):
  """The LR input made from the HR crop on the device: MATLAB's bicubic
  downscale, rounded to uint8 levels as a saved LR image is."""
  del batch, step
  return imresize.resize_jax(target, 1.0 / config.data.scale,
                             quantize=True), {}


def _masked_source(config, batch, target, step):
  """The image with a hole (each row's mask from (seed, step, row)),
  filled with config.data.fill; the hole goes to the losses."""
  del batch
  keys = inpainting.example_keys(config.seed, step, target.shape[0])
  hole = inpainting.holes(config.data, keys, target.shape[1])
  return inpainting.masked(config.data, target, hole), {'hole': hole}


def _whole_target(config, target, aux):
  del config, aux
  return target, None, lambda fake: fake


def _hole_region(config, target, aux):
  """The authors' geometry: G predicts the region around the hole, the
  content terms weigh the hole (1) and its overlap border (10), and D sees
  G's prediction in the real context."""
  real = inpainting.region(config.data, target)
  weights = inpainting.weights(config.data, config.loss, aux['hole'])
  return real, weights, lambda fake: inpainting.compose(weights, fake, real)


def _with_patch(config, spec):
  """The side of the square G predicts (`inpainting.patch_size`)."""
  return {**spec, 'patch': inpainting.patch_size(config.data,
                                                 spec['target'][0])}


def _as_output(config, source, out, inputs):
  del config, source, inputs
  return out


def _completed(config, source, out, inputs):
  """The masked image with its hole filled from G's prediction."""
  hole = jnp.asarray(inputs['holes'], jnp.float32)
  return inpainting.complete(config.data, source, out, hole)


def _translation_evaluator(config, data, workdir, write):
  from jaxgan.families.paired import evaluation as translation_eval  # pylint: disable=g-import-not-at-top
  return translation_eval.TranslationEvaluator(config, data, workdir, write)


def _inpainting_evaluator(config, data, workdir, write):
  from jaxgan.families.paired import inpaint_eval  # pylint: disable=g-import-not-at-top
  return inpaint_eval.InpaintingEvaluator(config, data, workdir, write)


def _sr_evaluator(config, data, workdir, write):
  from jaxgan.families.paired import sr_eval  # pylint: disable=g-import-not-at-top
  return sr_eval.SREvaluator(config, data, workdir, write)


@dataclasses.dataclass(frozen=True)
class Task:
  """How one kind of pair (`config.data.name`) is made and judged."""
  data: Callable  # config -> the data (spec, batches, eval_pairs, ...)
  # (config, batch, target in [-1, 1], step) -> (source in [-1, 1], aux):
  # aux is what `content` needs besides the target (inpainting's hole).
  source: Callable
  evaluator: Callable  # (config, data, workdir, write) -> an evaluator
  generators: tuple  # the config.model.generator names that fit
  # (config, target, aux) -> (what G predicts of the target, the content
  # terms' per-pixel weights or None for a plain mean, fake -> what D sees).
  content: Callable = _whole_target
  # (config, source, G's output, predict's inputs) -> predict's answer.
  output: Callable = _as_output
  # What `python -m jaxgan.translate` needs besides an image: a mask (the
  # hole to fill) for inpainting.
  needs_mask: bool = False
  # (config, data spec) -> the spec the networks are built for (inpainting
  # adds the predicted patch's side).
  network_spec: Callable = lambda config, spec: spec


_PIX2PIX = Task(paired_data.PairedData, _given_source, _translation_evaluator,
                unet.UNETS + tuple(resnet_generator.RESNETS))
# Pairs read from files (pix2pix), or made on the device from the target
# alone: super-resolution's LR input, inpainting's masked image.
TASKS = {name: _PIX2PIX for name in paired_data.PAIRS}
TASKS['super_resolution'] = Task(sr_data.HRData, _bicubic_source,
                                 _sr_evaluator, ('srresnet', 'rrdb'))
TASKS['inpainting'] = Task(paired_data.InpaintData, _masked_source,
                           _inpainting_evaluator, ('context_encoder',),
                           _hole_region, _completed, needs_mask=True,
                           network_spec=_with_patch)


def add_config(config: ml_collections.ConfigDict):
  """The paired family's config fields, with the authors' pix2pix defaults."""
  data = config.data
  # aligned | colorize | edges | super_resolution | inpainting
  data.name = 'aligned'
  data.split = 'train'  # Sub-folder of data_dir ('' for data_dir itself).
  data.eval_split = 'test'  # Sub-folder for evaluation and sample grids.
  # Sub-folders (under the split folder) held out for evaluation instead.
  data.holdout = ()
  data.direction = 'AtoB'  # aligned: AtoB (source A) or BtoA.
  data.preprocess = 'resize_and_crop'  # See jaxgan/families/paired/data.py.
  data.load_size = 286
  data.crop_size = 256
  data.flip = True
  data.channels = ml_collections.config_dict.placeholder(int)  # 1, 3 or file's
  data.edge_sigma = 2.0  # edges: Canny's Gaussian sigma, in pixels.
  # super_resolution (sr_data.py here): HR files under data_dir matching
  # `pattern`, random crop_size crops (flip also turns by 90 degrees), LR by
  # MATLAB's bicubic downscale by `scale`; evaluated on `eval_set` (set5,
  # set14, bsd100 under sr_dir, or a folder).
  data.scale = 4
  data.pattern = '*'
  data.eval_set = ''
  data.sr_dir = 'data/sr'
  # inpainting (inpainting.py here): the mask (center | random_block |
  # random_region), the hole's side, the overlap border's width, the hole's
  # fill (grey levels R, G, B), random_region's grid and hole share.
  data.mask = 'center'
  data.hole_size = 16
  data.overlap = 0
  data.fill = inpainting.AUTHORS_FILL
  data.region_res = 0.25
  data.region_density = 0.25

  config.model = ml_collections.ConfigDict()
  # 'unet' (depth from data.crop_size) or unet_32 ... unet_256.
  config.model.generator = 'unet'
  # patchgan (n_layers 3: 70x70; 1: 16x16; 5: 286x286, the full-image GAN
  # at 256) | pixelgan (1x1).
  config.model.discriminator = 'patchgan'
  config.model.n_layers = 3
  config.model.g_features = 64  # ngf
  config.model.d_features = 64  # ndf
  config.model.norm = 'batch'  # batch | instance | none
  config.model.dropout = 0.5
  config.model.d_conditional = True  # D sees (source, image), not image.
  config.model.conv_impl = 'auto'  # as the noise GAN's (config_lib)
  config.model.predict_train_mode = False
  config.model.num_blocks = 16  # srresnet: residual blocks; rrdb: RRDBs.
  config.model.rrdb_growth = 32  # rrdb: the dense blocks' growth channels.
  config.model.bottleneck = 4000  # context_encoder: the bottleneck channels.

  config.loss = ml_collections.ConfigDict()
  # The adversarial loss (jaxgan.losses): the authors' 'vanilla' BCE is
  # non_saturating; least_squares and hinge work too.
  config.loss.name = 'non_saturating'
  config.loss.adversarial_weight = 1.0
  config.loss.l1_weight = 100.0
  # Pixel MSE (SRResNet, and the "SRGAN-MSE" of Ledig et al.'s tables).
  config.loss.mse_weight = 0.0
  # VGG19 feature loss (SRGAN's VGG54, networks/vgg.py): torchvision's
  # vgg19 weights file ('' : torchvision's cache), the layer phi_i,j.
  config.loss.vgg_weight = 0.0
  config.loss.vgg_weights = ''
  config.loss.vgg_layer = (5, 4)
  config.loss.vgg_after_activation = True  # False: ESRGAN's, before ReLU.
  config.loss.d_loss_scale = 0.5
  # inpainting: the content terms' weight on the overlap border (train.lua's
  # overlapL2Weight); the hole's is 1.
  config.loss.overlap_weight = 10.0

  train = config.train
  diffaugment.add_config(config)
  train.batch_size = 1
  # 0: (n_epochs + n_epochs_decay) epochs of the training pairs.
  train.num_steps = 0
  train.n_epochs = 100
  train.n_epochs_decay = 100
  train.g_optimizer = ml_collections.ConfigDict(
      dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999))
  train.d_optimizer = ml_collections.ConfigDict(
      dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999))

  config.num_samples = 8
  config.sample_every = 1000
  # Evaluation on the eval split: mean L1, PSNR and SSIM against the
  # targets, and the Inception FID of the outputs against the targets
  # (eval.fid; 0.3 s an image on a laptop CPU).
  config.eval.num_examples = 0  # 0: every evaluation pair.
  config.eval.fid = False
  config.eval.metric = 'l1'  # The best checkpoint's: l1 | psnr | ssim | fid.


def linear_decay(n_epochs: int, n_epochs_decay: int, steps_per_epoch: int):
  """The authors' 'linear' policy as a factor of the step: 1 for n_epochs,
  then 1 - (e - n_epochs) / (n_epochs_decay + 1) in epoch e (1-based)."""

  def factor(step):
    epoch = step // steps_per_epoch + 1
    return 1.0 - jnp.maximum(0, epoch - n_epochs) / (n_epochs_decay + 1.0)

  return factor


class Paired(base.Family):
  """pix2pix: U-Net G, PatchGAN D, adversarial + L1 (see the module)."""
  name = 'paired'
  weights = ('g_params', 'g_state', 'd_params', 'd_state')

  @classmethod
  def add_config(cls, config):
    add_config(config)

  @classmethod
  def validate(cls, config):
    super().validate(config)
    data, m, loss = config.data, config.model, config.loss
    if data.name not in TASKS:
      raise errors.ConfigError(f'config.data.name={data.name!r}: the paired '
                               f'family makes pairs by {sorted(TASKS)}')
    task = TASKS[data.name]
    if data.preprocess not in paired_data.PREPROCESS:
      raise errors.ConfigError(
          f'config.data.preprocess={data.preprocess!r}: use one of '
          f'{paired_data.PREPROCESS}')
    if data.direction not in ('AtoB', 'BtoA'):
      raise errors.ConfigError(f'config.data.direction={data.direction!r}: '
                               "use 'AtoB' or 'BtoA'")
    if (data.preprocess != 'none' and task is _PIX2PIX and
        config.model.generator in unet.UNETS):
      try:
        unet.unet_depth(data.crop_size)
      except ValueError as e:
        raise errors.ConfigError(
            f'config.data.crop_size={data.crop_size}: {e} (the U-Net halves '
            'it down to 1x1)') from None
      if data.preprocess == 'resize_and_crop' and data.load_size < \
          data.crop_size:
        raise errors.ConfigError(
            f'config.data.load_size={data.load_size} is below crop_size='
            f'{data.crop_size}: the crop is taken from the loaded image')
    if m.generator not in task.generators:
      raise errors.ConfigError(
          f'config.model.generator={m.generator!r}: config.data.name='
          f'{data.name!r} trains one of {task.generators}')
    if data.name == 'super_resolution':
      srresnet.upsampling_factors(data.scale)
      if m.d_conditional:
        raise errors.ConfigError(
            'super-resolution\'s discriminator sees the HR image alone (its '
            'LR source is smaller): set config.model.d_conditional=False')
    if data.name == 'inpainting' and m.d_conditional:
      raise errors.ConfigError(
          'the context encoder\'s discriminator sees the predicted patch '
          'alone (as the authors\' conditionAdv=0): set '
          'config.model.d_conditional=False')
    if m.norm not in ('batch', 'instance', 'none'):
      raise errors.ConfigError(f'config.model.norm={m.norm!r}: use batch, '
                               'instance or none')
    if loss.name not in losses.GAN_LOSSES:
      raise errors.ConfigError(f'unknown config.loss.name {loss.name!r}: use '
                               f'one of {sorted(losses.GAN_LOSSES)}')
    metrics = (('l1', 'l2', 'psnr', 'fid') if data.name == 'inpainting' else
               ('l1', 'psnr', 'ssim', 'fid'))
    if config.eval.metric not in metrics:
      raise errors.ConfigError(f'config.eval.metric={config.eval.metric!r}: '
                               f'use one of {metrics}')
    if config.eval.metric == 'fid' and not config.eval.fid:
      raise errors.ConfigError('config.eval.metric=fid needs '
                               'config.eval.fid=True')
    if loss.vgg_weight:
      try:
        vgg.layer_index(*loss.vgg_layer, loss.vgg_after_activation)
      except ValueError as e:
        raise errors.ConfigError(f'config.loss.vgg_layer: {e}') from None
      path = loss.vgg_weights or str(vgg.default_path())
      if not os.path.isfile(path):
        raise errors.MissingFileError(
            f'config.loss.vgg_weight={loss.vgg_weight} needs the VGG19 '
            f'weights, and {path} is missing: download {vgg.WEIGHTS_URL} '
            '(torchvision\'s ImageNet vgg19) and pass '
            '--config.loss.vgg_weights=PATH, or train with the pixel loss '
            '(--config.loss.vgg_weight=0 --config.loss.mse_weight=1)')
    for name in ('adversarial_weight', 'l1_weight', 'mse_weight',
                 'vgg_weight', 'd_loss_scale'):
      if loss[name] < 0:
        raise errors.ConfigError(f'config.loss.{name} must be 0 or more')

  @classmethod
  def create_data(cls, config):
    return TASKS[config.data.name].data(config)

  @classmethod
  def resolve(cls, config, data):
    spec = TASKS[config.data.name].network_spec(config, data.spec)
    networks.check('generator', config.model.generator, config, spec)
    networks.check('discriminator', config.model.discriminator, config, spec)
    if not config.train.num_steps:
      config.train.num_steps = (
          (config.train.n_epochs + config.train.n_epochs_decay) *
          paired_data.steps_per_epoch(config.train.batch_size,
                                      data.num_examples))

  def __init__(self, config, spec, axis_name=None, batch_sharding=None):
    super().__init__(config, spec, axis_name, batch_sharding)
    m = config.model
    net_spec = TASKS[config.data.name].network_spec(config, spec)
    self.generator = networks.build('generator', m.generator, config,
                                    net_spec, axis_name=axis_name)
    self.discriminator = networks.build('discriminator', m.discriminator,
                                        config, net_spec, axis_name=axis_name)
    # The schedule counts epochs of the training pairs (spec['num_examples']).
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
    self.relativistic = gan_loss.relativistic
    self.augment_ops = diffaugment.ops_from_config(config)
    self.task = TASKS[config.data.name]
    self.vgg = None
    if config.loss.vgg_weight:
      self.vgg = vgg.load(config.loss.vgg_weights or None, vgg.layer_index(
          *config.loss.vgg_layer, config.loss.vgg_after_activation))

  # --- Networks ----------------------------------------------------------

  def generate(self, g_params, g_state, source, key=None, train=True):
    """G(source) -> (image, new BatchNorm statistics). `key`: dropout."""
    variables = {'params': g_params, **g_state}
    rngs = {'dropout': key} if key is not None else {}
    if train and g_state:
      return self.generator.apply(variables, source, train=True, rngs=rngs,
                                  mutable=['batch_stats'])
    return self.generator.apply(variables, source, train=train,
                                rngs=rngs), g_state

  def discriminate(self, d_params, d_state, source, image, key=None):
    """Patch logits of D on (source, image) in training mode, flat.

    With DiffAugment (config.train.diffaugment) and a `key`, source and
    image get the same transform first.
    """
    if self.augment_ops and key is not None:
      if source.shape[:3] == image.shape[:3]:
        source, image = diffaugment.augment_together((source, image), key,
                                                     self.augment_ops)
      else:  # An SR source is smaller: D judges the image alone.
        image = diffaugment.augment(image, key, self.augment_ops)
    x = (jnp.concatenate([source, image], axis=-1)
         if self.config.model.d_conditional else image)
    variables = {'params': d_params, **d_state}
    if d_state:
      logits, d_state = self.discriminator.apply(variables, x, train=True,
                                                 mutable=['batch_stats'])
    else:
      logits = self.discriminator.apply(variables, x, train=True)
    # Every patch is one BCE term: the losses take them flat, (B * P,).
    return logits.reshape(-1), d_state

  def init(self, key):
    g_key, d_key = jax.random.split(key)
    source = jnp.zeros((2,) + tuple(self.spec['source']))
    target = jnp.zeros((2,) + tuple(self.spec['target']))
    g_vars = dict(self.generator.init(g_key, source, train=False))
    aux = self.task.source(self.config, {'source': source}, target, 0)[1]
    target = self.task.content(self.config, target, aux)[0]  # D's view
    d_in = (jnp.concatenate([source, target], -1)
            if self.config.model.d_conditional else target)
    d_vars = dict(self.discriminator.init(d_key, d_in, train=False))
    g_params, d_params = g_vars.pop('params'), d_vars.pop('params')
    return PairedState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, g_state=g_vars,
        g_opt_state=self.g_tx.init(g_params), d_params=d_params,
        d_state=d_vars, d_opt_state=self.d_tx.init(d_params))

  # --- The iteration -------------------------------------------------------

  def update(self, state, batch):
    """One iteration on {'source': (B, ...), 'target': (B, ...)}, or on
    {'target'} alone where the task makes the source from it."""
    config = self.config
    loss_config = config.loss
    target = input_pipeline.to_model_input(batch['target'])
    if self.batch_sharding is not None:
      target = jax.lax.with_sharding_constraint(target, self.batch_sharding)
    source, aux = self.task.source(config, batch, target, state.step)
    if self.batch_sharding is not None:
      source = jax.lax.with_sharding_constraint(source, self.batch_sharding)
    real, weights, d_view = self.task.content(config, target, aux)

    def weighted_mean(error):
      if weights is None:
        return jnp.mean(error)
      return jnp.sum(weights * error) / (
          jnp.sum(weights > 0) * error.shape[-1])
    key = jax.random.fold_in(jax.random.key(config.seed), state.step)
    (fake, g_state), g_vjp = jax.vjp(
        lambda p: self.generate(p, state.g_state, source, key), state.g_params)
    adversarial = loss_config.adversarial_weight > 0

    d_params, d_state, d_opt_state = (state.d_params, state.d_state,
                                      state.d_opt_state)
    metrics = {}
    if adversarial:
      def d_loss(params):
        real_logits, d_state1 = self.discriminate(
            params, state.d_state, source, real, jax.random.fold_in(key, 11))
        fake_logits, d_state2 = self.discriminate(
            params, d_state1, source, jax.lax.stop_gradient(d_view(fake)),
            jax.random.fold_in(key, 12))
        loss = loss_config.d_loss_scale * self.d_loss_fn(real_logits,
                                                         fake_logits)
        real_acc, fake_acc = self.d_accuracy(real_logits, fake_logits)
        return loss, (d_state2, {
            'd_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits),
            'd_real_acc': real_acc, 'd_fake_acc': fake_acc})

      (loss, (d_state, d_metrics)), d_grads = jax.value_and_grad(
          d_loss, has_aux=True)(state.d_params)
      updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state,
                                              state.d_params)
      d_params = optax.apply_updates(state.d_params, updates)
      metrics.update(d_loss=loss, d_grad_norm=optax.tree.norm(d_grads),
                     **d_metrics)

    def g_loss(fake):
      l1 = weighted_mean(jnp.abs(real - fake))
      total = loss_config.l1_weight * l1
      out = {'g_l1': l1}
      if loss_config.mse_weight:
        # On [-1, 1] images; the paper's MSE is on them too (sec. 3.2).
        mse = weighted_mean(jnp.square(real - fake))
        total = total + loss_config.mse_weight * mse
        out['g_mse'] = mse
      if self.vgg is not None:
        content = vgg.feature_loss(*self.vgg, fake, target)
        total = total + loss_config.vgg_weight * content
        out['g_vgg'] = content
      new_d_state = d_state
      if adversarial:
        logits, new_d_state = self.discriminate(
            d_params, d_state, source, d_view(fake),
            jax.random.fold_in(key, 13))
        if self.relativistic:  # ESRGAN: D's real logits, no gradient to D.
          real_logits, new_d_state = self.discriminate(
              d_params, new_d_state, source, real,
              jax.random.fold_in(key, 14))
          gan = self.g_loss_fn(logits, jax.lax.stop_gradient(real_logits))
        else:
          gan = self.g_loss_fn(logits)
        total = total + loss_config.adversarial_weight * gan
        out['g_gan'] = gan
      return total, (out, new_d_state)

    (g_total, (g_metrics, d_state)), fake_grads = jax.value_and_grad(
        g_loss, has_aux=True)(fake)
    g_grads = g_vjp((fake_grads, jax.tree.map(jnp.zeros_like, g_state)))[0]
    updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state,
                                            state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    metrics.update(g_loss=g_total, g_grad_norm=optax.tree.norm(g_grads),
                   diversity=health.diversity_ratio(fake, real),
                   **g_metrics)
    metrics['finite'] = jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    return PairedState(
        step=state.step + 1, g_params=g_params, g_state=g_state,
        g_opt_state=g_opt_state, d_params=d_params, d_state=d_state,
        d_opt_state=d_opt_state), metrics

  # --- What the loop asks for ---------------------------------------------

  def batches(self, data, start_step):
    return data.batches(start_step)

  @classmethod
  def servable(cls, workdir, step=None, best=False, ema=False,
               direction=None):
    """G(source) of the run, as `python -m jaxgan.translate` applies it;
    an inpainting run's takes the masked source and its holes."""
    from jaxgan import translate  # pylint: disable=g-import-not-at-top
    if ema:
      raise errors.ConfigError('the paired family keeps no EMA generator: '
                               'drop --ema')
    t = translate.load(workdir, step, best, direction)
    source = list(t.meta['source_shape'])
    inputs = [{'name': 'source', 'shape': source, 'dtype': 'float32',
               'range': [-1, 1]}]
    if t.config.data.name == 'inpainting':
      inputs[0]['note'] = 'masked as the training data (translate.complete)'
      inputs.append({'name': 'holes', 'shape': source[:2] + [1],
                     'dtype': 'uint8', 'range': [0, 1]})
      fn = lambda source, holes: t.family.predict(  # pylint: disable=g-long-lambda,unnecessary-lambda-assignment
          t.state, {'source': source, 'holes': holes})
    else:
      fn = lambda source: t.family.predict(t.state, {'source': source})  # pylint: disable=unnecessary-lambda-assignment
    return base.Servable(
        fn, inputs, {'name': 'image', 'shape': list(t.meta['sample_shape']),
                     'range': [-1, 1]},
        {'params': t.state.g_params, **t.state.g_state},
        {'step': t.step, 'config': t.config,
         'direction': t.config.data.get('direction', 'AtoB')})

  def predict(self, state, inputs, ema=False):
    """G(source) in [-1, 1]: inference mode (running statistics, no
    dropout), or the paper's test-time mode with model.predict_train_mode."""
    if ema:
      raise errors.ConfigError('the paired family keeps no EMA generator')
    source = input_pipeline.to_model_input(inputs['source'])
    if self.config.model.predict_train_mode:
      key = jax.random.key(self.config.seed + 7)
      out = self.generate(state.g_params, state.g_state, source, key,
                          train=True)[0]
    else:
      out = self.generate(state.g_params, state.g_state, source,
                          train=False)[0]
    return self.task.output(self.config, source, out, inputs)

  def sample_inputs(self, data, num):
    """The first `num` evaluation pairs (training pairs when there are
    none): the grid shows source | output | target for the same inputs all
    run long."""
    if data.eval is not None:
      return data.eval_pairs(num)
    return data.eval_pairs(num, split=data.train)

  def draw_samples(self, path, inputs, outputs, data):
    del data
    writers.save_image(path, translation_grid(inputs['source'], outputs,
                                              inputs.get('target')))

  def networks(self, state):
    return {'generator': state.g_params, 'discriminator': state.d_params}

  def evaluator(self, data, workdir, write=True):
    return self.task.evaluator(self.config, data, workdir, write)


def translation_grid(sources, outputs, targets=None) -> np.ndarray:
  """One row per example: source | output (| target), a uint8 grid."""
  return writers.column_grid([sources, outputs] +
                             ([] if targets is None else [targets]))
