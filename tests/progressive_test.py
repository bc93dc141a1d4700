"""Progressive growing (ProGAN): layers, the fade-in, the schedule, the
iteration, compile counts, resume mid-fade, and a run through jaxgan.main."""

import json
import math
import os
import pathlib
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image
import pytest

from jaxgan import checkpoints
from jaxgan import cli
from jaxgan import errors
from jaxgan import losses
from jaxgan import networks
from jaxgan import train
from jaxgan.families import progressive
from jaxgan.families.progressive import schedule as schedules
from jaxgan.networks import progan

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The runs' programs compiled for one device (the suite has 8): the schedule,
# not the partitioning, is under test, and compiling is most of its time.
ONE = jax.devices()[:1]


# --- Layers -------------------------------------------------------------------


def test_equalized_dense_scales_at_run_time_and_matches_a_plain_layer():
  layer = progan.EqualizedDense(64, gain=math.sqrt(2))
  x = jax.random.normal(jax.random.key(0), (5, 256))
  params = layer.init(jax.random.key(1), x)['params']
  kernel = params['kernel']
  # Stored as N(0, 1), whatever the fan-in.
  assert abs(float(jnp.std(kernel)) - 1.0) < 0.05
  scale = math.sqrt(2) / math.sqrt(256)
  bias = jnp.linspace(-1, 1, 64)
  params = {'kernel': kernel, 'bias': bias}

  def equalized(p):
    return jnp.sum(jnp.sin(layer.apply({'params': p}, x)))

  def plain(w, b):  # A plain dense layer holding the scaled weights.
    return jnp.sum(jnp.sin(x @ w + b))

  np.testing.assert_allclose(equalized(params),
                             plain(kernel * scale, bias), rtol=1e-6)
  g_eq = jax.grad(equalized)(params)
  g_w, g_b = jax.grad(plain, argnums=(0, 1))(kernel * scale, bias)
  # d/dkernel = scale * d/dW: the same step in W-space takes scale^2 in
  # kernel-space, which is what equalizes the learning rate.
  np.testing.assert_allclose(g_eq['kernel'], scale * g_w, rtol=1e-5,
                             atol=1e-7)
  np.testing.assert_allclose(g_eq['bias'], g_b, rtol=1e-5, atol=1e-7)


def test_equalized_conv_equals_a_plain_convolution_of_scaled_weights():
  layer = progan.EqualizedConv(8, 3)
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 5))
  params = layer.init(jax.random.key(1), x)['params']
  scale = math.sqrt(2) / math.sqrt(3 * 3 * 5)
  plain = jax.lax.conv_general_dilated(
      x, params['kernel'] * scale, (1, 1), 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(layer.apply({'params': params}, x), plain,
                             rtol=1e-5, atol=1e-6)
  up = progan.EqualizedConv(8, 4, transposed=True)
  assert up.apply(up.init(jax.random.key(2), x), x).shape == (2, 12, 12, 8)


def test_pixel_norm_against_numpy():
  x = np.random.default_rng(0).normal(size=(3, 4, 4, 7)).astype(np.float32)
  want = x / np.sqrt(np.mean(x.astype(np.float64)**2, axis=-1,
                             keepdims=True) + 1e-8)
  np.testing.assert_allclose(progan.pixel_norm(jnp.asarray(x)), want,
                             rtol=1e-5)


def test_resampling():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  np.testing.assert_array_equal(progan.downscale2d(x)[0, :, :, 0],
                                [[2.5, 4.5], [10.5, 12.5]])
  np.testing.assert_array_equal(progan.upscale2d(x)[0, :2, :2, 0],
                                [[0, 0], [0, 0]])
  from jaxgan.networks import layers  # pylint: disable=g-import-not-at-top
  np.testing.assert_array_equal(layers.resize2x(x, 'nearest'),
                                progan.upscale2d(x))
  bilinear = layers.resize2x(x, 'bilinear')[0, :, :, 0]
  # Half-pixel centres: output 1 lies 1/4 of the way from input 0 to 1.
  np.testing.assert_allclose(bilinear[0, :3], [0, 0.25, 0.75])


def test_parameter_counts_of_the_paper_networks():
  """1024x1024 with the code's defaults: the paper's Table 2 gives 23.1M
  for each network."""
  g = progan.ProGANGenerator(8)
  d = progan.ProGANDiscriminator(8)
  g_vars = jax.eval_shape(lambda k: g.init(
      k, jnp.zeros((1, 512)), method=g.every_level), jax.random.key(0))
  d_vars = jax.eval_shape(lambda k: d.init(
      k, jnp.zeros((4, 1024, 1024, 3)), method=d.every_level),
      jax.random.key(0))
  assert networks.count_parameters(g_vars['params']) == 23_079_115
  assert networks.count_parameters(d_vars['params']) == 23_087_249


# --- The fade-in ----------------------------------------------------------------


def _small_networks(levels=2, upsample='nearest'):
  g = progan.ProGANGenerator(levels, 3, 64, 16, upsample)
  d = progan.ProGANDiscriminator(levels, 64, 16)
  z = jax.random.normal(jax.random.key(0), (8, 16))
  side = 4 * 2**levels
  g_params, d_params = _init(g, d, z, side)
  return g, d, z, g_params, d_params


def _init(g, d, z, side):
  """Both networks' parameters, every level."""
  g_params = jax.jit(lambda k: progan.init_params(g, k, z))(jax.random.key(1))
  d_params = jax.jit(lambda k: progan.init_params(
      d, k, jnp.zeros((len(z), side, side, 3))))(jax.random.key(2))
  return g_params, d_params


def test_init_params_has_flax_init_tree_and_distribution():
  g = progan.ProGANGenerator(2, 3, 64, 16)
  z = jnp.zeros((4, 16))
  ours = progan.init_params(g, jax.random.key(0), z)
  flax_init = jax.eval_shape(lambda: g.init(jax.random.key(0), z,
                                             method=g.every_level))['params']
  assert (jax.tree.structure(ours) == jax.tree.structure(flax_init))
  for path, leaf in jax.tree_util.tree_leaves_with_path(ours):
    if path[-1].key == 'bias':
      assert not np.any(leaf)
  kernels = np.concatenate([np.ravel(l) for p, l in
                            jax.tree_util.tree_leaves_with_path(ours)
                            if p[-1].key == 'kernel'])
  assert abs(kernels.std() - 1) < 0.02 and abs(kernels.mean()) < 0.02


@pytest.mark.parametrize('upsample', progan.UPSAMPLES)
def test_generator_fade_in_ends_exactly(upsample):
  g, _, z, params, _ = _small_networks(upsample=upsample)
  apply = jax.jit(lambda level, alpha: g.apply({'params': params}, z, level,
                                               alpha), static_argnums=(0, 1))
  for level in (1, 2):
    previous = apply(level - 1, None)
    np.testing.assert_array_equal(apply(level, 0.0),
                                  progan.upscale2d(previous))
    np.testing.assert_array_equal(apply(level, 1.0), apply(level, None))
    middle = apply(level, 0.25)
    np.testing.assert_allclose(
        middle, 0.25 * apply(level, None) + 0.75 * progan.upscale2d(previous),
        rtol=1e-5, atol=1e-6)
  assert apply(2, None).shape == (8, 16, 16, 3)


def test_discriminator_fade_in_ends_exactly():
  _, d, _, _, params = _small_networks()
  images = jax.random.normal(jax.random.key(3), (8, 16, 16, 3))
  apply = jax.jit(lambda x, level, alpha: d.apply({'params': params}, x,
                                                  level, alpha),
                  static_argnums=(1, 2))
  np.testing.assert_array_equal(apply(images, 2, 0.0),
                                apply(progan.downscale2d(images), 1, None))
  np.testing.assert_array_equal(apply(images, 2, 1.0),
                                apply(images, 2, None))
  assert not np.allclose(apply(images, 2, 0.5), apply(images, 2, None))


def test_low_levels_do_no_full_resolution_work():
  """A level's program holds no array of a higher level's side."""
  g = progan.ProGANGenerator(3, 3, 64, 12)
  d = progan.ProGANDiscriminator(3, 64, 12)
  z = jax.random.normal(jax.random.key(0), (8, 10))
  g_params, d_params = _init(g, d, z, 32)

  def step(level):
    side = 4 * 2**level
    x = jnp.zeros((8, side, side, 3))
    return lambda: d.apply({'params': d_params}, x, level, 0.5) + jnp.sum(
        g.apply({'params': g_params}, z, level, 0.5))

  text = jax.jit(step(1)).lower().as_text()
  assert 'x8x8x' in text and 'x16x16x' not in text and 'x32x32x' not in text


# --- The schedule -----------------------------------------------------------------


def test_schedule_in_images_with_batch_sizes_per_level():
  phases = schedules.make_phases(2, 100, 60, (32, 16), 8)
  assert [(p.level, p.fading, p.batch_size, p.steps) for p in phases] == [
      (0, False, 32, 4), (1, True, 16, 4), (1, False, 16, 7),
      (2, True, 16, 4), (2, False, 16, 7)]
  assert [p.start for p in phases] == [0, 4, 8, 15, 19]
  assert phases[-1].end == 26
  assert schedules.examples_seen(phases, 0) == 0
  assert schedules.examples_seen(phases, 4) == 128
  assert schedules.examples_seen(phases, 6) == 128 + 2 * 16
  assert schedules.alpha(phases[1], 4) == 0.0
  assert schedules.alpha(phases[1], 6) == 0.5
  assert schedules.alpha(phases[2], 9) == 1.0
  np.testing.assert_array_equal(schedules.positions(phases, 5),
                                np.arange(144, 160))
  assert schedules.phase_at(phases, 99) is phases[-1]
  final = schedules.make_phases(1, 10, 10, (), 5, final_images=50)
  assert final[-1].steps == 10


def test_short_cpu_schedule_samples_and_checkpoints_at_phase_ends():
  # The measured CIFAR-10 run's schedule: every phase 320 steps, samples at
  # each phase's end, 4 checkpoints per phase (the fade figure needs 3+),
  # all kept, and the EMA's horizon a fifth of a phase.
  config = cli.load_config_file(
      os.fspath(ROOT / 'configs' / 'progan.py') + ':cifar10_folder,cpu,short')
  t = config.train
  phases = schedules.make_phases(3, t.stable_images, t.fade_images,
                                 t.batch_sizes, t.batch_size)
  assert [p.steps for p in phases] == [320] * 7
  assert all(p.end % config.sample_every == 0 for p in phases)
  assert all(p.steps // config.checkpoint_every == 4 for p in phases)
  assert config.keep_checkpoints >= phases[-1].end // config.checkpoint_every
  assert 0.15 < 1 / (1 - t.ema_decay) / phases[0].steps < 0.25
  assert (config.model.fmap_base, config.model.latent_dim) == (1024, 128)


# --- The iteration -------------------------------------------------------------


def _config(data_dir, stable=24, fade=24, batch=8, side=16):
  config = cli.load_config_file(os.fspath(ROOT / 'configs' / 'progan.py'))
  config.data.data_dir = os.fspath(data_dir)
  config.data.image_size = (side, side)
  m, t = config.model, config.train
  m.fmap_base, m.fmap_max, m.latent_dim = 64, 16, 16
  t.batch_sizes = (batch,)
  t.stable_images, t.fade_images = stable, fade
  config.log_every = 1
  config.sample_every = 0
  config.checkpoint_every = 100
  config.num_samples = 8
  return config


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp('faces')
  rng = np.random.default_rng(0)
  for i in range(40):
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(
        folder / f'{i:02d}.png')
  return folder


def _family(config):
  data = progressive.Progressive.create_data(config)
  progressive.Progressive.resolve(config, data)
  return progressive.Progressive(config, data.spec), data


def test_drift_term_and_critic_loss(image_folder):
  np.testing.assert_allclose(losses.drift_penalty(jnp.array([1.0, -2.0, 3.0])),
                             14 / 3, rtol=1e-6)
  config = _config(image_folder)
  family, data = _family(config)
  state = family.init(jax.random.key(0))
  phase = family.phase(0)
  batch = next(iter(family.batches(data, 0)))
  assert batch['image'].shape == (8, 4, 4, 3)  # Pooled to the phase's side.
  _, m = jax.jit(family.update, static_argnums=2)(state, batch, phase)
  assert float(m['alpha']) == 1.0
  np.testing.assert_allclose(
      m['d_loss'], m['d_fake'] - m['d_real'] + 10 * m['penalty'] +
      0.001 * m['drift'], rtol=1e-5, atol=1e-6)
  assert float(m['drift']) > 0


def test_adam_state_resets_at_each_phase_start(image_folder):
  config = _config(image_folder)
  family, data = _family(config)
  update = jax.jit(family.update, static_argnums=2)
  batches = family.batches(data, 0)
  state = family.init(jax.random.key(0))
  for step in range(3):  # The 4x4 phase: the optimizers take steps.
    state, _ = update(state, next(batches), family.phase(step))
  batches.close()
  fade = family.phase(3)
  assert fade.fading and fade.start == 3
  batch = next(iter(family.batches(data, 3)))
  fresh = state.replace(g_opt_state=family.g_tx.init(state.g_params),
                        d_opt_state=family.d_tx.init(state.d_params))
  reset, _ = update(state, batch, fade)
  want, _ = update(fresh, batch, fade)
  for a, b in zip(jax.tree.leaves(reset), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)
  # Inside a phase the moments carry on.
  later, _ = update(state.replace(step=jnp.int32(4)), batch, fade)
  counts = [x for x in jax.tree.leaves(later.g_opt_state) if x.ndim == 0]
  assert int(counts[0]) == 4


# --- Runs -------------------------------------------------------------------------


@pytest.fixture
def trainers(monkeypatch):
  made = []
  original = train.Trainer

  def make(*args, **kwargs):
    made.append(original(*args, **kwargs))
    return made[-1]

  monkeypatch.setattr(train, 'Trainer', make)
  return made


def test_resume_mid_fade_equals_an_unbroken_run(image_folder, tmp_path,
                                                trainers):
  config = _config(image_folder, side=8)
  # 4x4 [0, 3), 8x8 fade-in [3, 6) and stable [6, 9): one compile each.
  whole = train.train_and_evaluate(config, tmp_path / 'whole', ONE)
  assert int(whole.step) == 9
  assert trainers[-1].trace_count == 3
  config.train.num_steps = 5  # Stops inside the fade-in.
  train.train_and_evaluate(config, tmp_path / 'broken', ONE)
  assert trainers[-1].trace_count == 2
  meta = checkpoints.Checkpointer(
      checkpoints.checkpoint_dir(tmp_path / 'broken'), read_only=True)
  assert meta.read_meta(5)['data_position']['examples_seen'] == 40
  config.train.num_steps = 9
  resumed = train.train_and_evaluate(config, tmp_path / 'broken', ONE)
  assert trainers[-1].trace_count == 2  # The fade-in's phase and the last.
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6,
                               atol=1e-7)
  lines = [json.loads(l) for l in
           (tmp_path / 'whole' / 'metrics.jsonl').read_text().splitlines()]
  alphas = {l['step']: l['alpha'] for l in lines if 'alpha' in l}
  # Logged after the step: step s's metrics are of iteration s - 1.
  assert alphas[4] == 0.0 and alphas[5] == pytest.approx(1 / 3)
  assert alphas[7] == 1.0


def test_steps_per_dispatch_stays_inside_a_phase(image_folder, tmp_path,
                                                 trainers):
  # 4 steps per phase: 4x4 [0, 4), the 8x8 fade-in [4, 8).
  config = _config(image_folder, stable=32, fade=32, side=8)
  config.train.steps_per_dispatch = 3
  config.train.num_steps = 8
  state = train.train_and_evaluate(config, tmp_path / 'run', ONE)
  assert int(state.step) == 8
  # Steps 0-2 in one scan, 3 alone (a scan to 5 would cross into the
  # fade-in), 4-7 alone (off the grid of 3, then 6 + 3 > 8): the scan of
  # the first phase and one step function per phase.
  assert trainers[-1].trace_count == 3


def test_bad_inputs_name_the_fix(image_folder):
  config = _config(image_folder)
  config.train.batch_sizes = (6,)
  with pytest.raises(errors.ConfigError, match='minibatch-std group'):
    progressive.Progressive.validate(config)
  config = _config(image_folder)
  config.data.image_size = (16, 12)
  data = progressive.Progressive.create_data(config)
  with pytest.raises(errors.ConfigError, match='square images of side 4'):
    progressive.Progressive.resolve(config, data)
  config = _config(image_folder)
  config.model.upsample = 'pixel_shuffle'
  with pytest.raises(errors.ConfigError, match='upsample'):
    progressive.Progressive.validate(config)


def test_two_phases_through_main(image_folder, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=configs/progan.py',
       f'--workdir={tmp_path}', f'--config.data.data_dir={image_folder}',
       '--config.model.fmap_base=64', '--config.model.fmap_max=16',
       '--config.model.latent_dim=16', '--config.train.batch_sizes=(8,)',
       '--config.train.stable_images=16', '--config.train.fade_images=16',
       '--config.train.num_steps=4', '--config.log_every=1',
       '--config.sample_every=2', '--config.checkpoint_every=1',
       '--config.keep_checkpoints=10'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(l) for l in
           (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [l['alpha'] for l in lines if 'alpha' in l] == [1.0, 1.0, 0.0, 0.5]
  sample = np.asarray(Image.open(tmp_path / 'samples' / 'step_000004.png'))
  assert sample.shape[0] >= 16  # Samples at the data's 16x16.
  networks_json = json.loads((tmp_path / 'networks.json').read_text())
  assert set(networks_json) == {'generator', 'discriminator'}
  # The evaluation command on the run (no --ref: SWD and MS-SSIM only).
  from jaxgan.families.progressive import evaluation  # pylint: disable=g-import-not-at-top
  flags = types.SimpleNamespace(workdir=str(tmp_path), step=None, best=False,
                                ema=True, num=32, ref=None, seed=0, out=None,
                                fade=0)
  result = evaluation.command(flags)
  # Step 4 ends the fade-in: the next phase's generator (alpha 1).
  assert result['step'] == 4 and result['phase'] == '8x8 stable'
  assert result['swd'] > 0 and 0 < result['ms_ssim'] <= 1
  assert (tmp_path / 'eval' / 'progressive_step4_ema_n32' /
          'result.json').exists()
  # The fade-in figure: the 8x8 fade is steps [2, 4), kept at 2, 3 and 4.
  fade = evaluation.command(types.SimpleNamespace(**{**vars(flags),
                                                     'fade': -1}))
  assert fade['resolution'] == 8 and fade['steps'] == [2, 3, 4]
  assert fade['alphas'] == [0.0, 0.5, 1.0]
  grid = np.asarray(Image.open(fade['figure'])).astype(np.int32)
  assert grid.shape[:2] == (2 + 4 * 18, 2 + 3 * 18)  # 4 z x 3 steps, 16x16.
  first, last = grid[2:18, 2:18], grid[2:18, 38:54]
  # Alpha 0 is the 4x4 generator's output (blocks of 4 at 16x16); alpha 1
  # the 8x8 block's (blocks of 2, not of 4).
  def blocky(image, k):
    return np.array_equal(image, np.repeat(np.repeat(
        image[::k, ::k], k, 0), k, 1))
  assert blocky(first, 4) and blocky(last, 2) and not blocky(last, 4)
  with pytest.raises(errors.ConfigError, match='fades in'):
    evaluation.fade_figure(str(tmp_path), 32)


def test_paper_metrics_of_samples():
  from jaxgan.families.progressive import evaluation  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  reals = rng.integers(0, 256, (64, 16, 16, 3), np.uint8)
  varied = rng.uniform(-1, 1, (64, 16, 16, 3))
  collapsed = np.repeat(varied[:1], 64, 0)
  good = evaluation.paper_metrics(varied, reals, 100)
  bad = evaluation.paper_metrics(collapsed, reals, 100)
  assert set(good) == {'eval/swd_16', 'eval/swd', 'eval/ms_ssim'}
  assert bad['eval/ms_ssim'] == pytest.approx(1.0)
  assert good['eval/ms_ssim'] < 0.5
  assert bad['eval/swd'] > good['eval/swd']
  assert set(evaluation.paper_metrics(varied, None, 0)) == set()
