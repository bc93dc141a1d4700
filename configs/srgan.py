r"""Super-resolution x4 (Ledig et al. 2017): SRResNet and SRGAN (MSE content).

The paired family with the LR source made from each HR crop on the device
(MATLAB's bicubic downscale, `jaxgan/imresize.py`). The paper's settings:
96x96 HR crops (24x24 LR), batch 16, Adam 1e-4 (0.9, 0.999), SRResNet's 16
residual blocks of 64 channels, the SRGAN discriminator on the HR image
alone, content loss pixel MSE; SRGAN adds 1e-3 x the BCE adversarial loss
and starts from a trained SRResNet (`--config.init_from=RUN`, as the paper,
sec. 3.2). Training images: BSD100's 100 HR images (the paper trained on
350k ImageNet images); evaluation: Set5 (PSNR/SSIM on Y,
`jaxgan/families/paired/sr_eval.py`), never trained on.

  # ../shared/data/sr-benchmarks/*.tar.gz extracted into data/sr:
  # (ESRGAN: :esrgan_psnr, then :esrgan --config.init_from=RUN.)
  python -m jaxgan.main --config=configs/srgan.py:srresnet \
      --workdir=runs/srresnet
  python -m jaxgan.main --config=configs/srgan.py:srgan \
      --config.init_from=runs/srresnet --workdir=runs/srgan
  python -m jaxgan.evaluate sr --workdir=runs/srresnet --set=set5 --scale=4
  python -m jaxgan.evaluate sr --method=bicubic --set=set14 --scale=4

`:srresnet,x2` (or x3) changes the scale; `:srgan,vgg` is the headline
SRGAN (VGG54 content loss; torchvision's vgg19 weights file,
`--config.loss.vgg_weights=PATH`); `,quick` is the CPU budget of README's x4 results (`quick` below).
"""

from jaxgan import config_lib

MODELS = ('srresnet', 'srgan', 'esrgan_psnr', 'esrgan')
OPTIONS = ('x2', 'x3', 'x4', 'vgg', 'quick')


def esrgan(config, gan: bool):
  """ESRGAN (Wang et al. 2018, sec. 4.1): RRDBNet (23 blocks, no BatchNorm);
  first PSNR-oriented (L1, Adam 2e-4), then from that network (init_from)
  the GAN: VGG54 features before the ReLU (weight 1), L1 (ESRGAN's 1e-2 on
  [0, 1] images is 5e-3 on jaxgan's [-1, 1]), the relativistic average
  loss 5e-3, Adam 1e-4; 128x128 HR crops. The paper trained on DIV2K +
  Flickr2K + OST; here BSD100, as SRResNet. Its discriminator is the SRGAN
  one (the paper's VGG-style D differs in its strided 4x4 convolutions).
  """
  m, loss, train = config.model, config.loss, config.train
  m.generator = 'rrdb'
  m.num_blocks = 23
  m.rrdb_growth = 32
  config.data.crop_size = 128
  loss.mse_weight = 0.0
  loss.l1_weight = 5e-3 if gan else 0.5  # L1 on [0, 1], weight 1 / 1e-2.
  if gan:
    loss.name = 'relativistic_average'
    loss.adversarial_weight = 5e-3
    loss.vgg_weight = 1.0
    loss.vgg_after_activation = False
  else:
    loss.adversarial_weight = 0.0
    train.g_optimizer.learning_rate = 2e-4


def quick(config, gan: bool):
  """The CPU budget of README's measured x4 results (a deviation from the
  paper, said beside every number): 64x64 HR crops instead of 96x96 (2.2x
  fewer pixels a step), and SRResNet at Adam 4e-4 for 4,000 steps, constant
  for 2,500 then decaying linearly to 0 (the paper: 1e-4 for 10^6 steps);
  the GAN from it (init_from) at 1e-4 for 1,000 steps, the last 500
  decaying. 7 steps are an epoch of BSD100's 100 images at batch 16.
  """
  train = config.train
  config.data.crop_size = 64
  train.num_steps = 1000 if gan else 4000
  train.n_epochs = 72 if gan else 358  # Steps 1-504 / 1-2506 constant.
  train.n_epochs_decay = 72 if gan else 214
  for name in ('g_optimizer', 'd_optimizer'):
    train[name].learning_rate = 1e-4 if gan else 4e-4
  config.eval_every = 1000
  config.checkpoint_every = 500


def get_config(arg=None):
  parts = [p for p in (arg or 'srresnet').split(',') if p]
  if (sum(p in MODELS for p in parts) != 1 or
      any(p not in MODELS + OPTIONS for p in parts)):
    raise ValueError(f'configs/srgan.py:{arg}: one of {MODELS}, then '
                     f'optionally {OPTIONS}')
  config = config_lib.default_config('paired')
  data = config.data
  data.name = 'super_resolution'
  data.scale = 4
  data.data_dir = 'data/sr/BSD100/image_SRF_4'
  data.pattern = '*_HR.png'
  data.eval_set = 'set5'
  data.crop_size = 96
  data.flip = True

  m = config.model
  m.generator = 'srresnet'
  m.discriminator = 'srgan'
  m.d_conditional = False
  m.num_blocks = 16
  m.g_features = 64
  m.d_features = 64

  loss = config.loss
  loss.name = 'non_saturating'
  loss.l1_weight = 0.0
  loss.mse_weight = 1.0
  loss.adversarial_weight = 1e-3 if 'srgan' in parts else 0.0
  loss.d_loss_scale = 1.0

  train = config.train
  train.batch_size = 16
  train.num_steps = 100_000
  # A constant learning rate (the paper's 1e-4 throughout SRResNet's
  # training): the schedule counts epochs, and this one never decays.
  train.n_epochs = 10 ** 9
  train.n_epochs_decay = 0
  for name in ('g_optimizer', 'd_optimizer'):
    train[name].learning_rate = 1e-4
    train[name].b1 = 0.9
    train[name].b2 = 0.999
  config.eval_every = 2000
  config.checkpoint_every = 1000
  config.sample_every = 1000
  config.num_samples = 5

  if 'esrgan_psnr' in parts or 'esrgan' in parts:
    esrgan(config, gan='esrgan' in parts)
  for part in parts:
    if part in ('x2', 'x3', 'x4'):
      # BSD100's x4 HR images train every scale (96 divides by 2, 3, 4).
      data.scale = int(part[1])
    elif part == 'vgg':
      # The headline SRGAN: VGG54 content loss instead of the pixel MSE
      # (needs torchvision's vgg19 weights, config.loss.vgg_weights).
      loss.mse_weight = 0.0
      loss.vgg_weight = 1.0
    elif part == 'quick':
      quick(config, gan='srgan' in parts or 'esrgan' in parts)
  return config
