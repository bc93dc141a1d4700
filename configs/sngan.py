r"""The CIFAR-10 league of SNGAN's paper, as mimicry trains it (Lee & Town
2020; Miyato et al. 2018; Miyato & Koyama 2018; Gulrajani et al. 2017):
ResNet generator and discriminator (`networks/sngan.py`, 32x32), n_dis 5,
Adam 2e-4 (0, 0.9), batch 64, 100k generator steps, both learning rates
decayed linearly to 0, no generator EMA.

  sngan       hinge loss, spectral norm in D (mimicry: FID 16.77)
  wgan_gp     Wasserstein loss with gradient penalty 10, no spectral norm
              (mimicry: FID 22.29)
  projection  cGAN-PD: hinge, spectral norm, the projection discriminator
              (mimicry: FID 10.84; its generator's conditional BatchNorm is
              here the one-hot class beside z)

The data: CIFAR-10's PNG folder (class sub-folders; `../shared/data` holds
20,000 of the 50,000 training images), or a tfds name. `,cpu` is the short
documented CPU run (2,000 steps).

  mkdir -p data/cifar10 && for f in ../shared/data/cifar10/*.tar.gz; do tar -xzf $f -C data/cifar10; done
  python -m jaxgan.main --config=configs/sngan.py --workdir=runs/sngan
  python -m jaxgan.main --config=configs/sngan.py:wgan_gp --workdir=runs/wgan_gp_resnet
  python -m jaxgan.main --config=configs/sngan.py:projection --workdir=runs/cgan_pd
  python -m jaxgan.main --config=configs/sngan.py:sngan,cpu --workdir=runs/sngan_cpu
"""

from jaxgan import config_lib
from jaxgan import errors

VARIANTS = ('sngan', 'wgan_gp', 'projection')
OPTIONS = VARIANTS + ('cpu',)


def get_config(arg=None):
  parts = [p for p in (arg or 'sngan').split(',') if p]
  unknown = [p for p in parts if p not in OPTIONS]
  variants = [p for p in parts if p in VARIANTS] or ['sngan']
  if unknown or len(variants) > 1:
    raise errors.ConfigError(
        f'configs/sngan.py:{arg}: one of {VARIANTS}, optionally with ",cpu"')
  variant = variants[0]
  config = config_lib.set_dataset(config_lib.default_config(),
                                  'cifar10_folder')
  config.data.data_dir = 'data/cifar10/train'
  config.data.image_size = (32, 32)
  config.data.channels = 3
  config.data.labels_from_subfolders = variant == 'projection'
  m = config.model
  m.generator = m.discriminator = 'sngan'
  m.latent_dim = 128
  m.d_norm = 'none'
  config.loss.name = 'hinge'
  m.spectral_norm = True
  if variant == 'wgan_gp':
    config.loss.name = 'wasserstein'
    config.loss.penalty = 'gradient_penalty'
    config.loss.penalty_weight = 10.0
    m.spectral_norm = False
  if variant == 'projection':
    m.conditioning = 'projection'
  t = config.train
  t.batch_size = 64
  t.n_critic = 5
  t.num_steps = 100_000
  t.lr_decay = 'linear'
  t.g_optimizer = config_lib.optimizer('adam', learning_rate=2e-4, b1=0.0,
                                       b2=0.9)
  t.d_optimizer = config_lib.optimizer('adam', learning_rate=2e-4, b1=0.0,
                                       b2=0.9)
  config.log_every = 100
  config.sample_every = 5000
  config.checkpoint_every = 5000
  if 'cpu' in parts:
    t.num_steps = 2000
    config.sample_every = 500
    config.checkpoint_every = 500
  return config
