r"""pix2pix (Isola et al. 2017) with the authors' defaults: unet_256, the
70x70 PatchGAN on (source, target), vanilla GAN loss + 100 L1, D's loss
halved, Adam 2e-4 (0.5, 0.999), batch 1, 100 epochs at a constant rate and
100 decaying linearly, resize 286 + random crop 256 + flip.

  # An aligned A|B folder (facades, maps, edges2shoes: train/ below PATH):
  python -m jaxgan.main --config=configs/pix2pix.py:aligned \
      --config.data.data_dir=PATH --workdir=runs/facades
  # Pairs made from any image folder (train/ and test/ below PATH):
  python -m jaxgan.main --config=configs/pix2pix.py:colorize \
      --config.data.data_dir=PATH --workdir=runs/colorize
  python -m jaxgan.main --config=configs/pix2pix.py:edges \
      --config.data.data_dir=PATH --workdir=runs/edges
  # The measured runs (README, docs/pix2pix.md), on ../shared/data extracted
  # into data/ (README "Paired translation"):
  python -m jaxgan.main --config=configs/pix2pix.py:cifar10_colorization \
      --workdir=runs/pix2pix_cifar10
  python -m jaxgan.main --config=configs/pix2pix.py:orl_edges \
      --workdir=runs/pix2pix_orl

`:cifar10_colorization,l1` and `,cgan` are the paper's ablation ("L1 only":
no adversarial term; "cGAN only": no L1 term).
"""

from jaxgan import config_lib

PAIRS = ('aligned', 'colorize', 'edges')
RUNS = ('cifar10_colorization', 'orl_edges')
ABLATIONS = ('l1', 'cgan', 'l1_cgan')


def cifar10_colorization(config):
  """Grey -> colour on CIFAR-10's PNG folders (the 20,000-image train subset;
  the 10,000 test images, of which eval.num_examples are evaluated).

  32x32 images: unet_32 (5 levels), load 36 + random crop 32 (the authors'
  286/256 jitter ratio) + flip; batch 16 so that a CPU run is not bound by
  dispatch (the authors' batch 1 is a GPU setting); 5 + 5 epochs.
  """
  config.data.name = 'colorize'
  config.data.data_dir = 'data/cifar10'
  config.data.load_size = 36
  config.data.crop_size = 32
  config.train.batch_size = 16
  config.train.n_epochs = 5
  config.train.n_epochs_decay = 5
  config.eval.num_examples = 2000
  config.num_samples = 16


def orl_edges(config):
  """Canny edges -> face on the ORL faces (92x112 grey): people s1-s36 train,
  s37-s40 (40 images) are held out. The width scales to 128 (128x156) and a
  128x128 crop is taken: unet_128 (7 levels)."""
  config.data.name = 'edges'
  config.data.data_dir = 'data/orl/att_faces'
  config.data.split = ''
  config.data.holdout = ('s37', 's38', 's39', 's40')
  config.data.preprocess = 'scale_width_and_crop'
  config.data.load_size = 128
  config.data.crop_size = 128
  config.data.edge_sigma = 2.0
  config.train.n_epochs = 50
  config.train.n_epochs_decay = 50
  config.num_samples = 8


def get_config(arg=None):
  config = config_lib.default_config('paired')
  parts = [p for p in (arg or 'aligned').split(',') if p]
  unknown = [p for p in parts if p not in PAIRS + RUNS + ABLATIONS]
  if unknown or sum(p in PAIRS + RUNS for p in parts) != 1:
    raise ValueError(f'configs/pix2pix.py:{arg}: one of {PAIRS + RUNS}, '
                     f'then optionally one of {ABLATIONS}')
  for part in parts:
    if part in PAIRS:
      config.data.name = part
    elif part == 'cifar10_colorization':
      cifar10_colorization(config)
    elif part == 'orl_edges':
      orl_edges(config)
    elif part == 'l1':
      config.loss.adversarial_weight = 0.0
    elif part == 'cgan':
      config.loss.l1_weight = 0.0
  return config
