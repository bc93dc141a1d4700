r"""The course's GAN assignment: a DCGAN at 100x100 RGB on a folder of
images, exported and shown on a page (README "Export").

The DCGAN of `configs/dcgan.py` (non-saturating BCE, Adam 2e-4 (0.5,
0.999), batch 64) at 100x100x3: G projects z to 7x7 and doubles four times
(7, 13, 25, 50, 100; `layers.image_stage_sizes`), D mirrors it; G's EMA
(0.999) is what the page shows. The data is the `:arg`:

  cars   (default) CIFAR-10's automobile class, data/cifar10/train/automobile
         (2,000 images of the shared subset, 32x32 resized to 100x100)
  orl    ORL faces, data/orl/att_faces (400 grey 92x112 faces, as RGB)
  folder any folder of images: --config.data.data_dir=PATH (your cars)

The budget is 640 epochs of the data at batch 64: 20,000 steps for the
2,000 cars, 4,000 for ORL's 400 faces (more passes over 400 images only
let D memorise them); a folder of your own keeps 20,000 until you set
--config.train.num_steps.

  python -m jaxgan.main --config=configs/course.py --workdir=runs/course
  python -m jaxgan.sample --workdir=runs/course --ema --out=course.png
  python -m jaxgan.export --workdir=runs/course --ema --out=exported/course
  python -m jaxgan.serve --model=exported/course
  python -m jaxgan.serving.package --model=exported/course --out=course.zip
"""

from jaxgan import config_lib

DATASETS = {'cars': 'data/cifar10/train/automobile',
            'orl': 'data/orl/att_faces', 'folder': None}
# Steps for 640 epochs at batch 64 (the folder's is the cars' default).
NUM_STEPS = {'cars': 20_000, 'orl': 4_000, 'folder': 20_000}


def get_config(arg=None):
  dataset = arg or 'cars'
  if dataset not in DATASETS:
    raise ValueError(f'configs/course.py:{arg}: one of {sorted(DATASETS)}')
  config = config_lib.default_config()
  data = config.data
  data.name = 'folder'
  if DATASETS[dataset]:
    data.data_dir = DATASETS[dataset]
  data.image_size = (100, 100)
  data.channels = 3
  config.train.ema_decay = 0.999
  config.train.num_steps = NUM_STEPS[dataset]
  config.num_samples = 64
  config.sample_every = 1000
  config.checkpoint_every = 1000
  return config
