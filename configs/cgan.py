r"""Conditional GAN (Mirza & Osindero 2014) and projection discriminator.

The generator gets the one-hot class beside z; the discriminator sees it as
one-hot planes added to the image's channels (DCGAN) or beside the flattened
image (MLP), or, with `projection`, through Miyato & Koyama (2018)'s inner
product of a class embedding with its last features. Non-saturating BCE,
Adam 2e-4 (0.5, 0.999), batch 64. `:DATASET[,mlp][,projection]`:

  python -m jaxgan.main --config=configs/cgan.py:mnist --workdir=runs/cgan
  python -m jaxgan.main --config=configs/cgan.py:fashion_mnist,projection \
      --workdir=runs/cgan_fashion
  python -m jaxgan.main --config=configs/cgan.py:mnist,mlp --workdir=runs/cmlp
  # CIFAR-10 as PNG folders (labels from the class sub-folders):
  tar xzf ../shared/data/cifar10/cifar10-png-train-subset-2000-per-class.tar.gz \
      -C data/cifar10
  python -m jaxgan.main --config=configs/cgan.py:cifar10_folder,projection \
      --config.data.data_dir=data/cifar10/train --workdir=runs/cgan_c10

Sample one row per class: python -m jaxgan.sample --workdir=runs/cgan
--mode=classes --out=classes.png
"""

from configs import gan_mlp
from jaxgan import config_lib


def get_config(arg=None):
  dataset, options = config_lib.split_arg(arg, ('mlp', 'projection'))
  if 'mlp' in options:
    config = gan_mlp.get_config(dataset)
  else:
    config = config_lib.set_dataset(config_lib.default_config(), dataset)
  config.model.conditioning = ('projection' if 'projection' in options
                               else 'concat')
  config.num_samples = 100  # A 10 x 10 grid: one class per column.
  return config
