r"""DCGAN (Radford et al. 2016): transposed-conv generator, BatchNorm critic.

Non-saturating BCE loss, Adam 2e-4 (0.5, 0.999), batch 64, the settings of
the paper and of pytorch/examples. The dataset is the `:arg`:

  python -m jaxgan.main --config=configs/dcgan.py:fashion_mnist \
      --workdir=runs/dcgan --config.train.num_steps=2000
  python -m jaxgan.main --config=configs/dcgan.py:cifar10 --workdir=runs/c10
  python -m jaxgan.main --config=configs/dcgan.py --workdir=runs/faces \
      --config.data.name=folder --config.data.data_dir=PATH \
      "--config.data.image_size=(64,64)"
"""

from jaxgan import config_lib


def get_config(arg=None):
  return config_lib.set_dataset(config_lib.default_config(), arg)
