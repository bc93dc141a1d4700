"""The defaults every experiment config starts from.

Experiment configs in `configs/` call `default_config()` and change a few
fields; `set_dataset` applies the `:arg` of `--config=configs/X.py:arg`.
"""

import ml_collections
from ml_collections import config_dict

from jaxgan import diffaugment
from jaxgan import errors
from jaxgan import families
from jaxgan import health


def optimizer(name: str, **kwargs) -> ml_collections.ConfigDict:
  """An optax optimizer by name: optax.<name>(**kwargs)."""
  return ml_collections.ConfigDict(dict(name=name, **kwargs))


def default_config(family: str = families.DEFAULT
                   ) -> ml_collections.ConfigDict:
  """The defaults of a run of `family` (config.family): the sections every
  run shares, then the family's own (`Family.add_config`), so a key one family
  does not know stays an error there. The noise GAN's defaults are a
  non-saturating DCGAN on MNIST with the settings of Radford et al. 2016."""
  config = ml_collections.ConfigDict()
  config.family = family
  config.seed = 0
  # Compute dtype ('float32' or 'bfloat16'); parameters stay float32.
  config.dtype = 'float32'
  # 'jit': jax.jit over a Mesh with axis 'data'; 'pmap': jax.pmap + pmean
  # (the noise GAN only).
  config.parallelism = 'jit'

  config.data = ml_collections.ConfigDict()
  # A tfds name ('mnist', 'fashion_mnist', 'cifar10', 'celeb_a', ...),
  # 'folder', or a 2D mixture ('ring8', 'grid25').
  config.data.name = 'mnist'
  config.data.split = 'train'
  # tfds data_dir (where prepared datasets live), or the image folder.
  config.data.data_dir = config_dict.placeholder(str)
  # Folder with the dataset's original files, for preparing tfds offline.
  config.data.manual_dir = config_dict.placeholder(str)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 64
  config.train.num_steps = 5000
  # Iterations per compiled call (a lax.scan over steps): > 1 saves the
  # per-call dispatch cost of small models; the results are the same.
  config.train.steps_per_dispatch = 1

  config.log_every = 100
  config.sample_every = 1000
  config.num_samples = 64
  # Orbax checkpoints in WORKDIR/checkpoints: every `checkpoint_every` steps
  # and at the end, the newest `keep_checkpoints` kept. A run resumes from its
  # workdir's latest checkpoint; `init_from` (a run's workdir) starts a new
  # run from that run's network weights instead.
  config.checkpoint_every = 1000
  # Metrics during training every `eval_every` steps (0: off) and at the end,
  # logged to metrics.jsonl/TensorBoard, drawn to WORKDIR/eval/curves.png; the
  # checkpoint with the best value of the family's primary metric is kept in
  # WORKDIR/checkpoints_best (DCGAN runs often collapse late).
  config.eval_every = 0
  config.eval = ml_collections.ConfigDict()
  config.keep_checkpoints = 3
  config.init_from = ''
  # Training-health warnings at log steps (jaxgan/health.py).
  health.add_config(config)
  families.get(family).add_config(config)
  return config


def add_gan_config(config: ml_collections.ConfigDict):
  """The noise GAN family's config fields (families/gan.py)."""
  config.model = ml_collections.ConfigDict()
  config.loss = ml_collections.ConfigDict()
  # (height, width) to resize and centre-crop to; None keeps the native size.
  config.data.image_size = config_dict.placeholder(tuple)
  # Folder datasets: 1 (grayscale) or 3 (RGB); None follows the first image.
  config.data.channels = config_dict.placeholder(int)
  config.data.labels_from_subfolders = False
  config.data.max_in_memory_mb = 4096

  config.model.generator = 'dcgan'  # 'mlp' | 'dcgan' | 'sngan' (32, 48, 64)
  config.model.discriminator = 'dcgan'  # 'mlp' | 'dcgan' | 'sngan'
  config.model.latent_dim = 100
  config.model.g_features = 64
  config.model.d_features = 64
  config.model.d_norm = 'batch'  # 'batch' | 'layer' | 'none'
  config.model.g_hidden = (128, 256, 512, 1024)
  config.model.d_hidden = (512, 256, 128)
  config.model.g_batch_norm = True
  # The MLPs' details for papers' settings (the mixture lab's 'paper'):
  # hidden layers of G without bias (before BatchNorm), D's hidden units as
  # maxout of this many pieces (0: d_activation, 'leaky_relu' or 'relu'),
  # and weights drawn N(0, init_std^2) with zero biases (0: Flax's init).
  config.model.g_hidden_bias = True
  config.model.d_maxout = 0
  config.model.d_activation = 'leaky_relu'
  config.model.init_std = 0.0
  # 2D mixtures: > 0 trains on a fixed set of this many points (shuffled
  # epochs, PacGAN's 100,000); 0 draws fresh points every step.
  config.data.num_points = 0
  # DCGAN models: a fully connected layer of this width between z and the
  # generator's projection, and between the discriminator's last conv and its
  # heads (InfoGAN's MNIST networks, Chen et al. 2016 appendix C.1); 0: none.
  config.model.g_fc_hidden = 0
  # How the DCGAN generator doubles its maps (layers.UPSAMPLES): 'transposed'
  # (4x4 stride-2, DCGAN's), 'nearest' or 'bilinear' then a 3x3 convolution
  # (no checkerboard: Odena et al. 2016).
  config.model.upsample = 'transposed'
  config.model.d_fc_hidden = 0
  # Class conditioning. The generator gets the one-hot class beside z when
  # `conditioning` is not 'none' or `aux_classifier` is set; `conditioning`
  # says how the discriminator sees it: 'concat' (cGAN, Mirza & Osindero
  # 2014) or 'projection' (Miyato & Koyama 2018). `aux_classifier`: ACGAN's
  # class head (Odena et al. 2017). num_classes 0: the dataset's.
  config.model.conditioning = 'none'
  config.model.aux_classifier = False
  config.model.num_classes = 0
  # InfoGAN (Chen et al. 2016): a categorical code of this many categories and
  # this many continuous codes (uniform in [-1, 1]) beside the noise, and a Q
  # head on the discriminator.
  config.model.info_categorical = 0
  config.model.info_continuous = 0
  # How convolutions are computed: 'auto' (on CPU each takes the form
  # measured fastest on this machine, cached: networks/conv_forms.py; XLA's
  # convolutions elsewhere), 'conv' (XLA's convolutions) or 'matmul' (the CPU
  # forms that fixed rules choose: slices + dots, whose gradients XLA:CPU runs
  # several times faster). Same parameters and outputs to float tolerance.
  config.model.conv_impl = 'auto'
  # Mode-collapse remedies (the lab: jaxgan/benchmarks/mixtures.py).
  # PacGAN (Lin et al. 2018): the discriminator judges `pack` examples at once,
  # concatenated (features, or image channels); 1: off. batch_size counts
  # examples, so each critic update sees batch_size / pack packed inputs.
  config.model.pack = 1
  # Minibatch standard deviation (Karras et al. 2018): a feature holding the
  # features' standard deviation over groups of this many examples enters the
  # discriminator's last layer (ProGAN uses 4); 0: off.
  config.model.minibatch_std = 0
  # Spectral normalisation (Miyato et al. 2018) of every conv, dense and
  # embedding weight of the discriminator: one power iteration per forward
  # pass, its vectors in the discriminator's state (networks/spectral_norm.py).
  config.model.spectral_norm = False

  # minimax | non_saturating | wasserstein | hinge | least_squares
  config.loss.name = 'non_saturating'
  config.loss.label_smoothing = 0.0  # One-sided; BCE losses only.
  config.loss.penalty = 'none'  # none | gradient_penalty | r1
  config.loss.penalty_weight = 10.0
  config.loss.weight_clip = 0.0  # > 0 clips critic weights (WGAN).
  # ACGAN: weight of the class log-likelihood term (Odena et al. 2017, eq. 2).
  config.loss.aux_weight = 1.0
  # InfoGAN: lambda of the mutual-information bound L_I (Chen et al. 2016, eq.
  # 5) for the categorical code, and for the continuous codes (a Gaussian of
  # unit variance); the paper uses 1 for discrete codes and a smaller weight
  # for continuous ones.
  config.loss.info_weight = 1.0
  config.loss.info_continuous_weight = 0.1

  config.train.n_critic = 1
  config.train.g_optimizer = optimizer('adam', learning_rate=2e-4, b1=0.5,
                                       b2=0.999)
  config.train.d_optimizer = optimizer('adam', learning_rate=2e-4, b1=0.5,
                                       b2=0.999)
  config.train.ema_decay = 0.0  # > 0 keeps an EMA of the generator.
  # 'linear': both learning rates fall linearly to 0 at num_steps (SNGAN's
  # schedule in mimicry); 'none': constant.
  config.train.lr_decay = 'none'
  # Unrolled GAN (Metz et al. 2017): the generator's loss is taken against the
  # critic after this many further optimizer steps on the current batches,
  # differentiated through those steps; 0: off.
  config.train.unroll_steps = 0
  # Instance noise (Sonderby et al. 2017; Arjovsky & Bottou 2017): Gaussian
  # noise of this standard deviation is added to everything the discriminator
  # sees, real and fake, in the critic and generator updates, annealed
  # linearly to 0 at step `instance_noise_steps` (0: never annealed).
  config.train.instance_noise = 0.0
  config.train.instance_noise_steps = 0
  # DiffAugment (Zhao et al. 2020): ops applied to real and fake images
  # wherever the discriminator sees them, e.g. 'color,translation,cutout'
  # (jaxgan/diffaugment.py); '': off.
  diffaugment.add_config(config)

  # inception | classifier | auto (the domain classifier for MNIST and
  # Fashion-MNIST, Inception otherwise).
  config.eval.networks = ('auto',)
  config.eval.num_samples = 5000
  config.eval.ref = ''  # A stats file; default: eval.split of the data.
  config.eval.split = 'test'
  config.eval.num_real = 0  # Reference images (0: the whole split).
  config.eval.use_ema = False


# Native image sizes are kept except where a dataset is too large to train on
# directly (CelebA: 218x178 -> 64x64, as in DCGAN).
_DATASET_IMAGE_SIZE = {'celeb_a': (64, 64)}


def set_dataset(config: ml_collections.ConfigDict, arg: str | None):
  """Applies `:arg` of `--config=configs/X.py:arg` (a dataset name).

  `cifar10_folder` is CIFAR-10 as PNG files in class sub-folders (pass the
  folder as --config.data.data_dir), labelled by sub-folder.
  """
  if arg == 'cifar10_folder':
    config.data.name = 'folder'
    config.data.labels_from_subfolders = True
  elif arg:
    config.data.name = arg
    if arg in _DATASET_IMAGE_SIZE:
      config.data.image_size = _DATASET_IMAGE_SIZE[arg]
  return config


def split_arg(arg: str | None, options: tuple[str, ...],
              default_dataset: str = 'mnist') -> tuple[str, set[str]]:
  """`dataset[,option...]` of `--config=configs/X.py:arg` -> (dataset, options).

  Unknown options are errors, as unknown config keys are.
  """
  parts = [p for p in (arg or '').split(',') if p]
  chosen = {p for p in parts if p in options}
  datasets = [p for p in parts if p not in options]
  if len(datasets) > 1:
    raise errors.ConfigError(f'config argument {arg!r}: one dataset and options from '
                     f'{options}, e.g. "mnist,{options[0]}"')
  return (datasets[0] if datasets else default_dataset), chosen


def _number(config, name):
  node = config
  for part in name.split('.'):
    node = node[part]
  return node


def validate_values(config: ml_collections.ConfigDict):
  """Checks the values every run shares, before any work or file.

  `data.image_size` may be given as one number (a square: 64 or (64,)); it
  is rewritten as (height, width).
  """
  size = config.data.get('image_size')
  if size is not None:
    if isinstance(size, int):
      size = (size,)
    size = tuple(size)
    if len(size) == 1:
      size = size * 2
    if (len(size) != 2 or
        not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                for s in size)):
      raise errors.ConfigError(
          f'config.data.image_size={config.data.image_size!r}: give '
          '(height, width) in pixels, both positive, e.g. (64, 64), or one '
          'number for a square')
    config.data.image_size = size
  at_least = {'train.batch_size': 1, 'train.num_steps': 0, 'num_samples': 1,
              'log_every': 1, 'sample_every': 0, 'checkpoint_every': 0,
              'eval_every': 0, 'keep_checkpoints': 1,
              'train.steps_per_dispatch': 1, 'health.patience_steps': 0}
  if 'ema_decay' in config.train:
    at_least['train.ema_decay'] = 0
  for name, low in at_least.items():
    value = _number(config, name)
    if not isinstance(value, (int, float)) or value < low:
      raise errors.ConfigError(
          f'config.{name}={value!r}: must be a number of at least {low}')
  if not config.train.get('ema_decay', 0) < 1:
    raise errors.ConfigError(f'config.train.ema_decay={config.train.ema_decay}'
                             ': use 0 (off) or a decay below 1, e.g. 0.999')
  for name in config.train:
    spec = config.train[name]
    if name.endswith('optimizer') and hasattr(spec, 'get'):
      rate = spec.get('learning_rate')
      if isinstance(rate, (int, float)) and not rate >= 0:
        raise errors.ConfigError(f'config.train.{name}.learning_rate={rate}: '
                                 'must be 0 or more')


def _paths(config, prefix='') -> list[str]:
  out = []
  for key in config:
    value = config[key]
    path = f'{prefix}{key}'
    if isinstance(value, ml_collections.ConfigDict) and not key.endswith(
        'optimizer'):
      out += _paths(value, path + '.')
    else:
      out.append(path)
  return out


def check_keys(config: ml_collections.ConfigDict):
  """Every key of `config` is one its family knows (default_config of
  config.family); a key of another family's is named as such."""
  family = families.of(config)
  known = set(_paths(default_config(family)))
  unknown = [p for p in _paths(config) if p not in known]
  if not unknown:
    return
  owners = []
  for other in families.FAMILIES:
    if other != family and unknown[0] in _paths(default_config(other)):
      owners.append(other)
  where = (f' (an option of the {" and ".join(map(repr, owners))} family)'
           if owners else '')
  raise errors.ConfigError(
      f'config.{unknown[0]}{where} is not an option of the {family!r} '
      f'family{" (and " + str(len(unknown) - 1) + " more)" if len(unknown) > 1 else ""}'
      ': remove it, or set config.family to the family it belongs to.')
