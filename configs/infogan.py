r"""InfoGAN (Chen et al. 2016) on MNIST: codes the GAN learns to use.

The latent is 62 noise dimensions, one categorical code of 10 categories and
2 continuous codes uniform in [-1, 1] (the paper's MNIST setting, sec. 5 and
appendix C.1), with the paper's fully connected layers: FC 1024 (BN, ReLU)
before G's projection, FC 1024 (BN, LeakyReLU) after D's convolutions, and Q
as FC 128 (BN, LeakyReLU) on that shared body. Both networks minimise lambda L_I (the negative log-likelihood of the codes
under Q: cross-entropy for the categorical code, a unit-variance Gaussian for
the continuous ones) with lambda 1 for the categorical and 0.1 for the
continuous codes. Adam 2e-4 for D and Q, 1e-3 for G (appendix C.1); without
labels, the categorical code should come to separate the digits:

  python -m jaxgan.main --config=configs/infogan.py --workdir=runs/infogan
  python -m jaxgan.sample --workdir=runs/infogan --mode=codes --out=codes.png
"""

from jaxgan import config_lib


def get_config(arg=None):
  config = config_lib.set_dataset(config_lib.default_config(), arg)
  config.model.latent_dim = 62
  config.model.info_categorical = 10
  config.model.info_continuous = 2
  config.model.g_fc_hidden = 1024
  config.model.d_fc_hidden = 1024
  config.loss.info_weight = 1.0
  config.loss.info_continuous_weight = 0.1
  config.train.g_optimizer = config_lib.optimizer('adam', learning_rate=1e-3,
                                                  b1=0.5, b2=0.999)
  config.train.batch_size = 100  # Appendix C.1.
  config.num_samples = 100  # A 10 x 10 grid: one category per column.
  return config
