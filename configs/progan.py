r"""Progressive growing of GANs (Karras et al. 2018), the authors' code
defaults (`families/progressive/`): G and D grown from 4x4, each resolution
faded in over 600k images and stabilised over 600k, batch 128 up to 16x16,
64 at 32x32, 32 at 64x64 (the code's one-GPU preset), equalized learning
rate, pixel norm, minibatch std (group 4), WGAN-GP (10) with the drift term
(0.001), Adam 1e-3 (0, 0.99) reset at every phase, G's EMA 0.999, latent
512, widths min(8192 / 2^stage, 512).

  # CIFAR-10's PNG folders in data/cifar10 (README), 4 -> 32:
  python -m jaxgan.main --config=configs/progan.py:cifar10_folder \
      --workdir=runs/progan_cifar10
  # ORL faces (data/orl/att_faces) resized to 64x64, 4 -> 64:
  python -m jaxgan.main --config=configs/progan.py:orl_faces \
      --workdir=runs/progan_orl
  # Any folder of square images of side 4 x 2^k:
  python -m jaxgan.main --config=configs/progan.py \
      --config.data.data_dir=DIR --workdir=runs/progan

`,cpu` (e.g. `:cifar10_folder,cpu`) is the reduced schedule this project
runs on a CPU: widths min(1024 / 2^stage, 128), latent 128, batch 32,
30k images per phase. `,short` (with `,cpu`: the measured runs of README's
ProGAN section; on a 2-core Zen 4 about 35 minutes of training for
CIFAR-10's 4 -> 32 and 75 for ORL's 4 -> 64) shortens every phase to 10,240
images (320 steps at batch 32) and scales G's EMA with it:
decay 0.985 averages over ~67 steps, a fifth of a phase, as the authors'
0.999 (1,000 steps) is of a 600k-image phase at batch 128 (4,688 steps);
with 0.999 the EMA of a block faded in over 320 steps would still be
mostly its initialisation. It keeps a checkpoint every quarter phase (the
fade-in figure, metrics per resolution) and samples at every phase's end.
"""

from jaxgan import config_lib

DATASETS = ('folder', 'cifar10_folder', 'orl_faces')
OPTIONS = ('cpu', 'short')


def get_config(arg=None):
  dataset, options = config_lib.split_arg(arg, OPTIONS, 'folder')
  if dataset not in DATASETS:
    raise ValueError(f'configs/progan.py:{arg}: a dataset of {DATASETS} and '
                     f'options of {OPTIONS}')
  config = config_lib.default_config('progressive')
  data = config.data
  if dataset == 'cifar10_folder':
    data.data_dir = 'data/cifar10/train'
    data.labels_from_subfolders = True
  elif dataset == 'orl_faces':
    data.data_dir = 'data/orl/att_faces'
    data.image_size = (64, 64)
    data.channels = 1
  if 'cpu' in options:
    m, t = config.model, config.train
    m.fmap_base, m.fmap_max, m.latent_dim = 1024, 128, 128
    t.batch_sizes = (32,)
    t.stable_images = t.fade_images = 30_000
  config.log_every = 100
  config.sample_every = 1000
  config.checkpoint_every = 1000
  config.num_samples = 64
  if 'short' in options:
    t = config.train
    t.stable_images = t.fade_images = 10_240
    t.ema_decay = 0.985
    phase_steps = 10_240 // t.batch_sizes[0]
    config.sample_every = phase_steps
    config.checkpoint_every = max(1, phase_steps // 4)
    config.keep_checkpoints = 64
  return config
