r"""WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1).

Critic: the DCGAN discriminator without BatchNorm; weights clipped to
[-0.01, 0.01] after every critic update; RMSprop 5e-5; n_critic 5; batch 64.

  python -m jaxgan.main --config=configs/wgan.py --workdir=runs/wgan
  python -m jaxgan.main --config=configs/wgan.py:fashion_mnist --workdir=runs/w
"""

from jaxgan import config_lib


def get_config(arg=None):
  config = config_lib.set_dataset(config_lib.default_config(), arg)
  config.model.d_norm = 'none'
  config.loss.name = 'wasserstein'
  config.loss.weight_clip = 0.01
  config.train.n_critic = 5
  config.train.g_optimizer = config_lib.optimizer('rmsprop',
                                                  learning_rate=5e-5)
  config.train.d_optimizer = config_lib.optimizer('rmsprop',
                                                  learning_rate=5e-5)
  return config
