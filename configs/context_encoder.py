r"""Inpainting with the context encoder (Pathak et al. 2016).

The paired family with the masked source made from each image on the device
(`jaxgan/families/paired/inpainting.py`); the authors' train.lua: the
encoder-decoder with the 4000-channel bottleneck, D on the predicted patch alone, loss 0.999 x
L2 (the overlap border weighted 10x) + 0.001 x BCE adversarial, Adam
(0.5, 0.999) with G's learning rate 2e-3, 10x D's 2e-4 (train.lua: G's L2
term is in (0, 1), so its gradient is small), batch 64, the hole filled
with ImageNet's mean colour.

  # CIFAR-10's PNG folders extracted into data/cifar10 (README):
  python -m jaxgan.main --config=configs/context_encoder.py:cifar10 \
      --workdir=runs/ce_cifar10
  # ORL faces extracted into data/orl:
  python -m jaxgan.main --config=configs/context_encoder.py:orl \
      --workdir=runs/ce_orl
  python -m jaxgan.evaluate inpaint --workdir=runs/ce_cifar10 [--fid]
  python -m jaxgan.evaluate inpaint --workdir=runs/ce_cifar10 \
      --method=biharmonic      # a baseline on the run's images and masks

Runs: `cifar10` (32x32, the 16x16 centre hole; the 20,000-image train
subset, the 10,000 test images), `orl` (64x64, the 32x32 centre hole;
people s1-s36 train, s37-s40 are the 40 held-out images), `authors128`
(128x128, train.lua's geometry: the 64x64 predicted centre, of which a
4-pixel border is known context, overlapPred=4). Options: `random_block`,
`random_region` (the masks; G then predicts the whole image), `l2` (no
adversarial term: the paper's L2-only column).
"""

from jaxgan import config_lib

RUNS = ('cifar10', 'orl', 'authors128')
OPTIONS = ('random_block', 'random_region', 'l2')


def cifar10(config):
  data = config.data
  data.data_dir = 'data/cifar10'
  data.load_size = data.crop_size = 32
  data.hole_size = 16
  # train.lua's overlapPred is 4 pixels of 128: one pixel of 32. The hole
  # and its border then exceed the centre half, so G predicts the image.
  data.overlap = 1
  config.train.num_steps = 2000  # 6.4 epochs of the 20,000 at batch 64.
  config.eval.num_examples = 2000


def orl(config):
  data = config.data
  data.data_dir = 'data/orl/att_faces'
  data.split = ''
  data.holdout = ('s37', 's38', 's39', 's40')
  data.load_size = data.crop_size = 64
  data.hole_size = 32
  data.overlap = 2
  config.train.batch_size = 36
  config.train.num_steps = 3000


def authors128(config):
  data = config.data
  data.load_size = data.crop_size = 128
  data.hole_size = 56
  data.overlap = 4


def get_config(arg=None):
  parts = [p for p in (arg or 'cifar10').split(',') if p]
  if (sum(p in RUNS for p in parts) != 1 or
      any(p not in RUNS + OPTIONS for p in parts)):
    raise ValueError(f'configs/context_encoder.py:{arg}: one of {RUNS}, '
                     f'then optionally {OPTIONS}')
  config = config_lib.default_config('paired')
  data = config.data
  data.name = 'inpainting'
  data.preprocess = 'resize_and_crop'
  data.flip = True
  data.mask = 'center'

  m = config.model
  m.generator = 'context_encoder'
  m.discriminator = 'context_encoder'
  m.d_conditional = False
  m.g_features = m.d_features = 64
  m.bottleneck = 4000
  m.norm = 'batch'

  loss = config.loss
  loss.name = 'non_saturating'
  loss.l1_weight = 0.0
  loss.mse_weight = 0.999
  loss.adversarial_weight = 0.001
  loss.overlap_weight = 10.0
  loss.d_loss_scale = 1.0  # train.lua: errD_real + errD_fake.

  train = config.train
  train.batch_size = 64
  train.num_steps = 100_000
  train.n_epochs = 10 ** 9  # A constant learning rate, as train.lua.
  train.n_epochs_decay = 0
  for name, lr in (('g_optimizer', 2e-3), ('d_optimizer', 2e-4)):
    train[name].learning_rate = lr
    train[name].b1 = 0.5
    train[name].b2 = 0.999
  config.eval.metric = 'l2'
  config.eval_every = 1000
  config.checkpoint_every = 1000
  config.sample_every = 500
  config.num_samples = 16

  for part in parts:
    if part in RUNS:
      globals()[part](config)
    elif part in ('random_block', 'random_region'):
      data.mask = part
    elif part == 'l2':
      loss.adversarial_weight = 0.0
  return config
