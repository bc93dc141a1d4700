r"""CycleGAN (Zhu et al. 2017) with the authors' defaults: two resnet_9blocks
generators, two 70x70 PatchGANs with instance norm, LSGAN, cycle L1 with
lambda_A = lambda_B = 10, identity 0.5 x lambda, the pools of 50 fakes,
Adam 2e-4 (0.5, 0.999), batch 1, 100 epochs constant and 100 decaying,
resize 286 + random crop 256 + flip (`jaxgan/families/unpaired/`).

  # A CycleGAN dataset (trainA/, trainB/, testA/, testB/ below PATH):
  python -m jaxgan.main --config=configs/cyclegan.py:unaligned \
      --config.data.data_dir=PATH --workdir=runs/horse2zebra
  # CIFAR-10's cats and dogs (the PNG folders extracted into data/cifar10):
  python -m jaxgan.main --config=configs/cyclegan.py:cifar10_cat2dog \
      --workdir=runs/cyclegan_cat2dog

`,no_identity` drops the identity loss (the authors' ablation). `,cpu` is
the CPU budget of the measured runs in README.md: 3 epochs (1 constant, 2
decaying: 6,000 iterations of batch 1) instead of the authors' 200.
`:cifar10_horse2deer` is the second pair chosen (README.md says why).
"""

from jaxgan import config_lib

RUNS = ('unaligned', 'cifar10_cat2dog', 'cifar10_horse2deer')
OPTIONS = ('no_identity', 'cpu')


def cifar10_pair(config, a, b):
  """Class a (A) <-> class b (B) of CIFAR-10's PNG folders: the train
  subset's 2,000 of each, tested on the 1,000 test images of each. 32x32
  images: resnet_6blocks (the authors' choice below 256), load 36 + random
  crop 32 (the 286/256 jitter ratio) + flip, batch 1 as the authors."""
  data = config.data
  data.data_dir = 'data/cifar10'
  data.train_dirs = (f'train/{a}', f'train/{b}')
  data.eval_dirs = (f'test/{a}', f'test/{b}')
  data.load_size = 36
  data.crop_size = 32
  config.model.generator = 'resnet_6blocks'
  config.num_samples = 8


def get_config(arg=None):
  parts = [p for p in (arg or 'unaligned').split(',') if p]
  if (sum(p in RUNS for p in parts) != 1 or
      any(p not in RUNS + OPTIONS for p in parts)):
    raise ValueError(f'configs/cyclegan.py:{arg}: one of {RUNS}, then '
                     f'optionally {OPTIONS}')
  config = config_lib.default_config('unpaired')
  for part in parts:
    if part == 'cifar10_cat2dog':
      cifar10_pair(config, 'cat', 'dog')
    elif part == 'cifar10_horse2deer':
      cifar10_pair(config, 'horse', 'deer')
    elif part == 'no_identity':
      config.loss.lambda_identity = 0.0
    elif part == 'cpu':
      config.train.n_epochs, config.train.n_epochs_decay = 1, 2
  return config
