r"""The mode-collapse lab: 2D mixtures and the remedies (`dataset,method`).

  python -m jaxgan.main --config=configs/mixtures.py:ring8,unrolled \
      --workdir=runs/ring8_unrolled
  python -m jaxgan.benchmarks.mixtures   # every method, seed and dataset

Datasets (`jaxgan.input_pipeline.mixture_modes`): ring8 (8 modes on the unit
circle, std 0.01) and grid25 (25 modes on {-4, -2, 0, 2, 4}^2, std 0.05), as
in PacGAN's Table 1 (Lin et al. 2018), whose code uses these exact mixtures.

Networks of the Unrolled GAN paper's mixture experiment (Metz et al. 2017,
appendix A): generator z -> two ReLU layers of 128 units -> 2 (linear);
discriminator one hidden layer of 128 units -> logit (512 units on grid25,
see below); Adam with beta1 0.5 for both; the minimax GAN loss (G minimises
log(1 - D(G(z))), as there and in PacGAN's code). Differences, stated:
  - batch 100 and a 2-d Gaussian z, as in PacGAN's code (Metz et al.: 512 and
    256-d);
  - learning rate 1e-3, not 1e-4: at 1e-4 even 20,000 steps left the
    generator imprecise (2-33% high-quality points on ring8, measured);
  - samples are drawn from an exponential moving average of the generator's
    weights (decay 0.999; Yazici et al. 2019), for every method alike. At
    lr 1e-3 the raw weights jitter: with the EMA, ring8 at 5,000 steps went
    from 7.6 to 8.0 modes (unrolled) and 6.2 to 7.8 (pacgan4), and the plain
    GAN's mode hopping shows as the collapse VEEGAN reports (5.0 -> 1.8);
  - the discriminator's hidden layer is LeakyReLU 0.2 (theirs ReLU, after
    scaling the input by 1/4), initialised by Flax's defaults (theirs
    orthogonal x 0.8);
  - `STEPS` iterations with fresh points every step. PacGAN's own networks
    (four BatchNorm layers of 400 units in G, three maxout layers of 200 x 5
    in D) trained 400,000 iterations on a fixed set of 100,000 points; at
    about 30x the cost per step they do not fit a CPU benchmark of 60 runs.
    Their published numbers remain the reference;
  - on grid25 the discriminator's hidden layer has 512 units. With 128 the
    critic cannot separate 25 modes finely enough for any remedy to work
    (PacGAN4 21.0 modes, plain GAN 15.4); with 512, PacGAN4 covers all 25
    in every seed and the plain GAN still drops modes (19.4), as PacGAN's
    Table 1 shows (24.8 vs 17.3). A deeper critic removes the collapse
    altogether: with two layers of 128, or PacGAN's three of 200, the plain
    GAN covers 25 and 23.8 modes (5 seeds, 20,000 steps, measured).

Methods (`:dataset,method`):
  gan             the baseline;
  unrolled        Unrolled GAN, 5 unrolled critic steps (Metz et al. 2017 use
                  5-10 on their ring);
  pacgan2/3/4     PacGAN packing of 2, 3 or 4 examples (as in PacGAN, the
                  critic still sees 512 packed examples per batch, so G
                  draws 512 m points per step);
  wgan_gp         WGAN-GP (Gulrajani et al. 2017): Wasserstein loss, penalty
                  10, n_critic 5, Adam 1e-4 (0.5, 0.9), the paper's toy
                  settings;
  instance_noise  Gaussian noise on the critic's inputs, std 0.1 annealed to 0
                  over the first half of training;
  minibatch_std   a minibatch-std feature (group 4) into D's last layer;
  label_smoothing one-sided label smoothing to 0.9 (Salimans et al. 2016).
"""

from jaxgan import config_lib

METHODS = ('gan', 'unrolled', 'pacgan2', 'pacgan3', 'pacgan4', 'wgan_gp',
           'instance_noise', 'minibatch_std', 'label_smoothing')
STEPS = {'ring8': 5_000, 'grid25': 20_000}
D_HIDDEN = {'ring8': (128,), 'grid25': (512,)}


SETTINGS = ('fast', 'paper')
# PacGAN's code (fjxmlzn/PacGAN, synthetic_data_experiments): 100,000 packed
# examples, batches of 100 of them, 400 epochs.
PAPER_EXAMPLES, PAPER_BATCH, PAPER_EPOCHS = 100_000, 100, 400
# Gulrajani et al.'s gan_toy.py: 100,000 generator iterations of batch 256.
TOY_STEPS, TOY_BATCH = 100_000, 256


def get_config(arg=None):
  dataset, chosen = config_lib.split_arg(arg, METHODS + SETTINGS,
                                         default_dataset='ring8')
  if dataset not in STEPS:
    raise ValueError(f'configs/mixtures.py: dataset {dataset!r} is not a 2D '
                     f'mixture: use one of {sorted(STEPS)}')
  settings = 'paper' if 'paper' in chosen else 'fast'
  chosen -= set(SETTINGS)
  if len(chosen) > 1:
    raise ValueError(f'configs/mixtures.py: one method at a time, not {chosen}')
  method = chosen.pop() if chosen else 'gan'
  if settings == 'paper':
    return paper_config(dataset, method)
  config = config_lib.set_dataset(config_lib.default_config(), dataset)
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.model.latent_dim = 2
  config.model.g_hidden = (128, 128)
  config.model.g_batch_norm = False
  config.model.d_hidden = D_HIDDEN[dataset]
  config.loss.name = 'minimax'
  config.train.batch_size = 100
  config.train.num_steps = STEPS[dataset]
  config.train.ema_decay = 0.999
  for opt in (config.train.g_optimizer, config.train.d_optimizer):
    opt.learning_rate = 1e-3
    opt.b1 = 0.5
  config.log_every = 500
  config.sample_every = 2500
  config.checkpoint_every = 2500
  config.num_samples = 2500

  if method == 'unrolled':
    config.train.unroll_steps = 5
  elif method.startswith('pacgan'):
    config.model.pack = int(method[len('pacgan'):])
    config.train.batch_size = 100 * config.model.pack
  elif method == 'wgan_gp':
    config.loss.name = 'wasserstein'
    config.loss.penalty = 'gradient_penalty'
    config.loss.penalty_weight = 10.0
    config.train.n_critic = 5
    for opt in (config.train.g_optimizer, config.train.d_optimizer):
      opt.learning_rate, opt.b1, opt.b2 = 1e-4, 0.5, 0.9
  elif method == 'instance_noise':
    config.train.instance_noise = 0.1
    config.train.instance_noise_steps = config.train.num_steps // 2
  elif method == 'minibatch_std':
    config.model.minibatch_std = 4
  elif method == 'label_smoothing':
    config.loss.label_smoothing = 0.1
  return config


def _adam_for_both(train, b1: float, b2: float):
  """Adam 1e-4 with (b1, b2) for G and D alike (both papers' choice)."""
  for name in ('g_optimizer', 'd_optimizer'):
    train[name] = config_lib.optimizer('adam', learning_rate=1e-4, b1=b1,
                                       b2=b2)


def paper_config(dataset: str, method: str):
  """The papers' own settings (`,paper`): PacGAN's code for the GAN and
  PacGAN rows, Gulrajani et al.'s `gan_toy.py` for WGAN-GP.

  PacGAN: G four Dense 400 (no bias), BatchNorm, ReLU, then Dense 2; D three
  maxout layers of 200 units x 5 pieces, then Dense 1; every weight N(0,
  0.02^2), biases 0; z 2-d N(0, 1); the non-saturating loss (their G loss is
  softplus(D(x)) + softplus(-D(G(z)))); Adam 1e-4 (0.8, 0.999); batches of
  100 packed examples (100 m points) from a fixed set of 100,000 packed
  examples, 400 epochs (400,000 iterations); no generator EMA. Not theirs:
  D and G update one after the other (their ALI algorithm updates both from
  the same pass), and BatchNorm's running averages use momentum 0.9 (theirs
  0.95); both only matter to how fast things move, not to what is measured.

  WGAN-GP: G three ReLU layers of 512 then Dense 2, D three ReLU layers of
  512 then Dense 1 (Flax's initialisation); penalty lambda 0.1, n_critic 5,
  Adam 1e-4 (0.5, 0.9), batch 256, 100,000 iterations, fresh points (their
  `8gaussians` on a circle of radius 2 / sqrt(2), std 0.02 / sqrt(2); ours is
  PacGAN's ring, radius 1, std 0.01).
  """
  config = config_lib.set_dataset(config_lib.default_config(), dataset)
  m, t = config.model, config.train
  m.generator = m.discriminator = 'mlp'
  m.latent_dim = 2
  config.log_every = 1000
  config.sample_every = 50_000
  config.checkpoint_every = 50_000
  config.num_samples = 2500
  t.ema_decay = 0.0
  if method == 'wgan_gp':
    m.g_hidden = (512, 512, 512)
    m.g_batch_norm = False
    m.d_hidden = (512, 512, 512)
    m.d_activation = 'relu'
    config.loss.name = 'wasserstein'
    config.loss.penalty = 'gradient_penalty'
    config.loss.penalty_weight = 0.1
    t.n_critic = 5
    t.batch_size = TOY_BATCH
    t.num_steps = TOY_STEPS
    _adam_for_both(t, b1=0.5, b2=0.9)
    return config
  if method != 'gan' and not method.startswith('pacgan'):
    raise ValueError(f'configs/mixtures.py: the paper settings cover gan, '
                     f'pacgan2/3/4 and wgan_gp, not {method!r}')
  pack = int(method[len('pacgan'):]) if method.startswith('pacgan') else 1
  m.pack = pack
  m.g_hidden = (400, 400, 400, 400)
  m.g_batch_norm = True
  m.g_hidden_bias = False
  m.d_hidden = (200, 200, 200)
  m.d_maxout = 5
  m.init_std = 0.02
  config.loss.name = 'non_saturating'
  t.batch_size = PAPER_BATCH * pack
  config.data.num_points = PAPER_EXAMPLES * pack
  t.num_steps = PAPER_EPOCHS * PAPER_EXAMPLES // PAPER_BATCH
  _adam_for_both(t, b1=0.8, b2=0.999)
  return config
