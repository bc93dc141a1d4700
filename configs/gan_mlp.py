r"""The original GAN (Goodfellow et al. 2014) with MLPs, non-saturating BCE.

Images: MLP generator 100 -> 128 -> 256 -> 512 -> 1024 -> 28x28 (BatchNorm,
ReLU, tanh) and discriminator 784 -> 512 -> 256 -> 128 -> 1 (LeakyReLU 0.2),
Adam 2e-4 (0.5, 0.999), batch 128:

  python -m jaxgan.main --config=configs/gan_mlp.py --workdir=runs/gan_mlp

2D mixtures (`:ring8`, `:grid25`): the small networks of the mode-collapse
literature (Metz et al. 2017; Srivastava et al. 2017): two ReLU layers of 128
units each, no BatchNorm; a 2-d latent, Adam 2e-4 (0.5, 0.999), batch 512
(with these a fixed-seed run covers all 8 ring modes in 1,500 steps):

  python -m jaxgan.main --config=configs/gan_mlp.py:ring8 --workdir=runs/ring8
"""

from jaxgan import config_lib


def get_config(arg=None):
  config = config_lib.set_dataset(config_lib.default_config(), arg)
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.train.batch_size = 128
  config.train.num_steps = 10000
  if config.data.name in ('ring8', 'grid25'):
    config.model.latent_dim = 2
    config.model.g_hidden = (128, 128)
    config.model.d_hidden = (128, 128)
    config.model.g_batch_norm = False
    config.train.batch_size = 512
    config.train.num_steps = 3000
    for opt in (config.train.g_optimizer, config.train.d_optimizer):
      opt.learning_rate = 2e-4
    config.log_every = 100
    config.sample_every = 500
    config.num_samples = 2500
  return config
