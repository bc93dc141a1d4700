"""Super-resolution: MATLAB's bicubic, the Y-channel protocol against the
published bicubic baselines, pixel shuffle, the networks, the data, resume
and `evaluate sr`."""

import json
import pathlib
import subprocess
import sys
import tarfile
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import srgan
from jaxgan import errors
from jaxgan.families.paired import sr_data
from jaxgan.families.paired import sr_eval
from jaxgan import imresize
from jaxgan import input_pipeline
from jaxgan import networks
from jaxgan.networks import layers
from jaxgan.networks import srresnet
from jaxgan import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def sr_dir(shared_data, tmp_path_factory):
  """The SelfExSR archives of ../shared/data, extracted."""
  root = tmp_path_factory.mktemp('sr')
  for name in ('set5-srf234', 'set14-srf234', 'bsd100-srf4'):
    with tarfile.open(shared_data / 'sr-benchmarks' / f'{name}.tar.gz') as t:
      t.extractall(root, filter='data')
  return root


def _read(path):
  return sr_eval._read(path)  # pylint: disable=protected-access


@pytest.mark.parametrize('name,scale', [('Set5', 2), ('Set5', 3), ('Set5', 4),
                                        ('Set14', 2), ('Set14', 3),
                                        ('Set14', 4)])
def test_downscale_reproduces_matlabs_lr_files(sr_dir, name, scale):
  folder = sr_dir / name / f'image_SRF_{scale}'
  errors_per_image = []
  for hr_path in sorted(folder.glob('*_HR.png')):
    lr = _read(str(hr_path).replace('_HR', '_LR'))
    ours = sr_eval.downscale(_read(hr_path), scale)
    assert ours.shape == lr.shape
    errors_per_image.append(np.mean(np.abs(ours.astype(float) - lr)))
  # Below one grey level on every image (the bar); measured: at most
  # 0.01 (MATLAB rounds a few half-way values otherwise).
  assert max(errors_per_image) < 1.0, errors_per_image
  # Pillow's bicubic, which does not antialias as MATLAB does, is far off.
  hr = _read(sorted(folder.glob('*_HR.png'))[0])
  pil = np.asarray(Image.fromarray(hr.squeeze()).resize(
      (hr.shape[1] // scale, hr.shape[0] // scale), Image.BICUBIC))
  lr = _read(sorted(folder.glob('*_LR.png'))[0]).squeeze()
  assert np.mean(np.abs(pil.astype(float) - lr)) > 2 * max(errors_per_image)


def test_device_downscale_equals_the_numpy_one():
  rng = np.random.default_rng(0)
  hr = rng.integers(0, 256, (2, 48, 36, 3), np.uint8)
  ours = np.stack([imresize.resize(h, 0.25, quantize=True) for h in hr])
  device = imresize.resize_jax(jnp.asarray(hr, jnp.float32) / 127.5 - 1,
                               0.25, quantize=True)
  np.testing.assert_allclose((np.asarray(device) + 1) * 127.5, ours,
                             atol=1e-3)


@pytest.mark.parametrize('name,scale,psnr,ssim', [
    ('set5', 4, 28.42, 0.8104), ('set14', 4, 26.00, 0.7027),
    ('bsd100', 4, 25.96, 0.6675), ('set5', 2, 33.66, 0.9299)])
def test_bicubic_baseline_comes_out_at_the_published_values(
    sr_dir, name, scale, psnr, ssim):
  eval_set = sr_eval.load_set(name, scale, str(sr_dir))
  result = sr_eval.evaluate_set(eval_set,
                                lambda lr: sr_eval.bicubic(lr, scale))
  assert abs(result['psnr'] - psnr) < 0.05, result['psnr']
  assert abs(result['ssim'] - ssim) < 0.002, result['ssim']


def test_y_psnr_and_ssim_equal_scikit_image():
  from skimage import color  # pylint: disable=g-import-not-at-top
  from skimage import metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  a = rng.integers(0, 256, (40, 52, 3), np.uint8)
  b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0,
              255).astype(np.uint8)
  y = sr_eval.rgb_to_y(a)
  np.testing.assert_allclose(y, np.round(color.rgb2ycbcr(a)[..., 0]))
  ya, yb = sr_eval.shave(y, 4), sr_eval.shave(sr_eval.rgb_to_y(b), 4)
  assert ya.shape == (32, 44)
  assert sr_eval.psnr(ya, yb) == pytest.approx(
      metrics.peak_signal_noise_ratio(ya, yb, data_range=255), rel=1e-12)
  assert sr_eval.ssim(ya, yb) == pytest.approx(metrics.structural_similarity(
      ya, yb, data_range=255, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False), rel=1e-9)
  # A grey image is its own Y.
  np.testing.assert_array_equal(sr_eval.rgb_to_y(a[..., :1]), a[..., 0])


def test_pixel_shuffle_equals_a_loop_reference():
  r, c = 3, 2
  x = np.random.default_rng(0).normal(size=(2, 4, 5, c * r * r)).astype(
      np.float32)
  expected = np.zeros((2, 4 * r, 5 * r, c))
  for h in range(4):
    for w in range(5):
      for ch in range(c):
        for i in range(r):
          for j in range(r):
            expected[:, h * r + i, w * r + j, ch] = x[:, h, w,
                                                      ch * r * r + i * r + j]
  np.testing.assert_array_equal(srresnet.pixel_shuffle(jnp.asarray(x), r),
                                expected)


def _torch_bench():
  sys.path.insert(0, str(ROOT.parent / 'shared' / 'bench'))
  import torch_translation_bench  # pylint: disable=g-import-not-at-top
  return torch_translation_bench


count = networks.module_parameters  # (module, *input shape) -> int


def test_parameter_counts_equal_the_reference(shared_data):
  del shared_data
  bench = _torch_bench()
  torch_count = lambda net: sum(p.numel() for p in net.parameters())
  assert count(srresnet.SRResNet(scale=4), 1, 24, 24, 3) == torch_count(
      bench.srresnet()) == 1_550_659
  assert count(srresnet.SRGANDiscriminator(), 1, 96, 96, 3) == torch_count(
      bench.srgan_discriminator(96)) == 23_565_505
  # x2 and x3: one sub-pixel stage (x3: 576 channels, shuffled by 3).
  x2 = srresnet.SRResNet(scale=2).apply(
      srresnet.SRResNet(scale=2).init(jax.random.key(0), jnp.zeros(
          (1, 8, 8, 3)), train=False), jnp.zeros((1, 8, 8, 3)), train=False)
  assert x2.shape == (1, 16, 16, 3)
  x3 = jax.eval_shape(lambda: srresnet.SRResNet(scale=3).init_with_output(
      jax.random.key(0), jnp.zeros((1, 8, 8, 3)), train=False)[0])
  assert x3.shape == (1, 24, 24, 3)


def test_strided_patch_forms_agree_with_xla():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 13, 12, 8)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 8, 5)), jnp.float32)
  for stride in (1, 2):
    site = layers.conv_forms.Site('patch', x.shape, 5, 'float32', 1, 3, 1,
                                  stride)
    f = lambda form, x, k: layers.conv_forms.build(site, form)(x, k)
    loss = lambda form: lambda x, k: jnp.sum(jnp.sin(f(form, x, k)))
    want = f('xla', x, kernel)
    want_grads = jax.grad(loss('xla'), (0, 1))(x, kernel)
    for form in ('im2col', 'col2im'):
      got = f(form, x, kernel)
      scale = float(jnp.max(jnp.abs(want)))
      np.testing.assert_allclose(got, want, atol=1e-5 * scale)
      for g, w in zip(jax.grad(loss(form), (0, 1))(x, kernel), want_grads):
        np.testing.assert_allclose(g, w, atol=1e-5 * float(jnp.max(
            jnp.abs(w))))


def write_images(root, n, size=(60, 52), seed=0, block=4):
  """Pixel art: random colours in `block` x `block` squares, whose sharp
  edges bicubic upscaling blurs and a network learns to restore."""
  rng = np.random.default_rng(seed)
  root.mkdir(parents=True, exist_ok=True)
  cells = rng.integers(0, 256, (n, -(-size[1] // block), -(-size[0] // block),
                                3), np.uint8)
  for i in range(n):
    image = cells[i].repeat(block, 0).repeat(block, 1)[:size[1], :size[0]]
    Image.fromarray(image).save(root / f'img_{i:03d}.png')


def tiny(config, root):
  config.data.data_dir = str(root / 'train')
  config.data.pattern = '*.png'
  config.data.eval_set = str(root / 'test')
  config.data.scale = 2
  config.data.crop_size = 32
  config.model.num_blocks = 2
  config.model.g_features = 8
  config.model.d_features = 8
  config.train.batch_size = 8
  config.train.num_steps = 4
  config.log_every = 2
  config.sample_every = 0
  config.checkpoint_every = 2
  config.eval_every = 0
  config.num_samples = 2
  return config


def test_crops_flips_and_turns_are_a_function_of_seed_and_step(tmp_path):
  write_images(tmp_path / 'train', 5)
  config = tiny(srgan.get_config('srresnet'), tmp_path)
  config.data.eval_set = ''
  data = sr_data.HRData(config)
  assert data.spec == {'source': (16, 16, 3), 'target': (32, 32, 3),
                       'num_examples': 5}
  a, b = data.batch(7), sr_data.HRData(config).batch(7)
  np.testing.assert_array_equal(a['target'], b['target'])
  assert not np.array_equal(data.batch(8)['target'], a['target'])
  # Every crop is a flipped/turned window of its image.
  indices = input_pipeline.example_indices(config.seed, 7, (8,), 5)
  epochs = (7 * 8 + np.arange(8)) // 5
  top, left, flip, turns = data.crops(config.seed, epochs, indices)
  assert set(turns) <= {0, 1, 2, 3} and len(set(turns)) > 1
  for row, (i, t, l, f, r) in enumerate(zip(indices, top, left, flip, turns)):
    window = data.images[i][t:t + 32, l:l + 32]
    window = window[:, ::-1] if f else window
    np.testing.assert_array_equal(a['target'][row], np.rot90(window, r))


def test_bad_input_is_a_clear_error(tmp_path):
  write_images(tmp_path / 'train', 3)
  write_images(tmp_path / 'test', 2, seed=1)
  config = tiny(srgan.get_config('srresnet'), tmp_path)
  config.data.crop_size = 30  # not a multiple of 4
  config.data.scale = 4
  with pytest.raises(errors.ConfigError, match='does not divide by the scale'):
    sr_data.HRData(config)
  config.data.crop_size = 64
  with pytest.raises(input_pipeline.DataError, match='smaller than the'):
    sr_data.HRData(config)
  config.data.crop_size = 32
  config.data.eval_set = str(tmp_path / 'train')
  with pytest.raises(errors.ConfigError, match='in the evaluation set'):
    sr_data.HRData(config)
  config.data.eval_set = 'set5'
  config.data.sr_dir = str(tmp_path / 'nowhere')
  with pytest.raises(input_pipeline.DataError, match='extract the SelfExSR'):
    sr_data.HRData(config)
  with pytest.raises(errors.ConfigError, match='does not divide by the scale'):
    sr_eval.downscale(np.zeros((30, 32, 3), np.uint8), 4)
  config = tiny(srgan.get_config('srresnet'), tmp_path)
  config.model.d_conditional = True
  with pytest.raises(errors.ConfigError, match='d_conditional=False'):
    train.train_and_evaluate(config, tmp_path / 'run')
  config = tiny(srgan.get_config('srresnet'), tmp_path)
  config.data.scale = 5
  with pytest.raises(errors.ConfigError, match='scale 5'):
    train.train_and_evaluate(config, tmp_path / 'run')


def assert_same_state(a, b, rtol):
  a, b = jax.device_get(a), jax.device_get(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(y, np.float64), rtol=rtol,
                               atol=10 * rtol)


def test_srgan_resumes_exactly(tmp_path):
  write_images(tmp_path / 'train', 6)
  config = tiny(srgan.get_config('srgan'), tmp_path)
  config.data.eval_set = ''
  config.train.num_steps = 2
  train.train_and_evaluate(config, tmp_path / 'stopped', jax.devices()[:1])
  config.train.num_steps = 4
  resumed = train.train_and_evaluate(config, tmp_path / 'stopped',
                                     jax.devices()[:1])
  straight = train.train_and_evaluate(config, tmp_path / 'straight',
                                      jax.devices()[:1])
  assert_same_state(resumed, straight, rtol=1e-6)
  assert int(straight.step) == 4


def _sr_flags(**kw):
  """`python -m jaxgan.evaluate sr`'s flags, for the command in-process."""
  flags = dict(method='model', workdir=None, step=None, best=False,
               interpolate_from=None, alpha=0.8, scale=2, sr_dir='data/sr',
               out=None)
  return types.SimpleNamespace(**{**flags, **kw})


def test_grey_images_go_to_a_colour_network_as_three_channels():
  # Set14 holds two grey images; a colour network sees each as three equal
  # channels, and its output comes back grey (scored as its own Y).
  seen = []

  def identity(inputs):  # uint8 in, [-1, 1] out, as a paired predict.
    seen.append(inputs['source'].shape)
    return inputs['source'].astype(np.float32) / 127.5 - 1.0
  grey = np.random.default_rng(0).integers(0, 256, (6, 5, 1), np.uint8)
  out = sr_eval.model_upscale(identity, channels=3)(grey)
  assert seen == [(1, 6, 5, 3)]
  np.testing.assert_array_equal(out, grey)
  with pytest.raises(errors.ConfigError, match='1-channel'):
    sr_eval.model_upscale(identity, channels=1)(np.repeat(grey, 3, -1))


def test_a_short_run_beats_bicubic_on_held_out_images(tmp_path, capsys):
  # Pixel art in 4x4 squares at x2: bicubic blurs every edge (24.8 dB on
  # the 4 held-out images), a tiny SRResNet (16 channels, 2 blocks) learns
  # to restore them. Measured over seeds 0-1 (Intel Xeon AVX-512): ~25.5 dB
  # at 300 steps, 29.4-29.5 at 500 (here), 34.1-34.2 at 800. The bar
  # (bicubic + 3 dB) leaves room for any processor's rounding; an untrained
  # or non-learning G stays below bicubic.
  write_images(tmp_path / 'train', 16, seed=0)
  write_images(tmp_path / 'test', 4, seed=1)
  config = tiny(srgan.get_config('srresnet'), tmp_path)
  config.model.g_features = 16
  config.train.num_steps = 500
  config.train.n_epochs, config.train.n_epochs_decay = 175, 75
  config.train.g_optimizer.learning_rate = 2e-3
  config.log_every = 100
  config.checkpoint_every = 500
  config.eval_every = 500
  train.train_and_evaluate(config, tmp_path / 'run', jax.devices()[:1])
  history = json.loads((tmp_path / 'run' / 'eval' / 'history.jsonl')
                       .read_text().splitlines()[-1])
  eval_set = sr_eval.load_set(str(tmp_path / 'test'), 2)
  bicubic = sr_eval.evaluate_set(eval_set, lambda lr: sr_eval.bicubic(lr, 2))
  assert bicubic['psnr'] < 26
  assert history['eval/psnr'] > bicubic['psnr'] + 3.0, (history, bicubic)
  # `evaluate sr` on the run scores the same, and saves the SR images.
  out = tmp_path / 'sr'
  sr_eval.command(_sr_flags(workdir=str(tmp_path / 'run'),
                            set=str(tmp_path / 'test'), out=str(out)))
  result = json.loads((out / 'result.json').read_text())
  assert result['step'] == 500 and result['n'] == 4
  assert result['psnr'] == pytest.approx(history['eval/psnr'], abs=1e-6)
  assert len(list(out.glob('*.png'))) == 4
  assert '"psnr"' in capsys.readouterr().out
  with pytest.raises(errors.ConfigError, match='pass its own --scale'):
    sr_eval.command(_sr_flags(workdir=str(tmp_path / 'run'), scale=4,
                              set=str(tmp_path / 'test'),
                              out=str(tmp_path / 'x4')))


def _evaluate_sr(*args):
  done = subprocess.run(
      [sys.executable, '-m', 'jaxgan.evaluate', 'sr', *args], cwd=ROOT,
      capture_output=True, text=True, check=False)
  if done.returncode:
    raise subprocess.CalledProcessError(done.returncode, args,
                                        done.stdout, done.stderr[-3000:])
  out_dir = [a.split('=', 1)[1] for a in args if a.startswith('--out=')][0]
  return json.loads((pathlib.Path(out_dir) / 'result.json').read_text())


def test_evaluate_sr_scores_bicubic_from_the_command_line(sr_dir, tmp_path):
  result = _evaluate_sr('--method=bicubic', '--set=set5', '--scale=4',
                        f'--sr_dir={sr_dir}', f'--out={tmp_path}')
  assert abs(result['psnr'] - 28.42) < 0.05 and result['n'] == 5
  assert len(list(tmp_path.glob('*.png'))) == 5
