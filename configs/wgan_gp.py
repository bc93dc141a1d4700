r"""WGAN-GP (Gulrajani et al. 2017, Algorithm 1).

Critic: the DCGAN discriminator without BatchNorm (the penalty is per
example); gradient penalty lambda 10 via jax.grad of the critic with respect
to its interpolated inputs; n_critic 5; Adam 1e-4 (0, 0.9) for both networks;
batch 64. Trains on MNIST by default (offline: the embedded test split):

  python -m jaxgan.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
  python -m jaxgan.main --config=configs/wgan_gp.py:cifar10 --workdir=runs/c10
"""

from jaxgan import config_lib


def get_config(arg=None):
  config = config_lib.set_dataset(config_lib.default_config(), arg)
  config.model.d_norm = 'none'
  config.loss.name = 'wasserstein'
  config.loss.penalty = 'gradient_penalty'
  config.loss.penalty_weight = 10.0
  config.train.n_critic = 5
  config.train.g_optimizer = config_lib.optimizer('adam', learning_rate=1e-4,
                                                  b1=0.0, b2=0.9)
  config.train.d_optimizer = config_lib.optimizer('adam', learning_rate=1e-4,
                                                  b1=0.0, b2=0.9)
  return config
