"""The paired family (pix2pix): networks, data, losses, resume, devices,
commands and a trained toy translator."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import pix2pix
from jaxgan import errors
from jaxgan.families import paired
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import evaluation as translation_eval
from jaxgan import input_pipeline
from jaxgan import networks
from jaxgan.networks import patchgan
from jaxgan.networks import unet
from jaxgan import train
from jaxgan import translate

ROOT = pathlib.Path(__file__).resolve().parents[1]


count = networks.module_parameters  # (module, *input shape) -> int


def test_parameter_counts_equal_the_authors_networks():
  # pytorch-CycleGAN-and-pix2pix: --netG unet_256, --netD basic on
  # cat(A, B), --norm batch (../shared/bench/torch_translation_bench.py).
  assert count(unet.UNetGenerator(3, 8), 1, 256, 256, 3) == 54_413_955
  assert count(patchgan.PatchGAN(3), 1, 256, 256, 6) == 2_768_705


@pytest.mark.parametrize('size', [32, 64, 128, 256])
def test_unet_keeps_the_shape_at_every_depth(size):
  depth = unet.unet_depth(size)
  assert depth == {32: 5, 64: 6, 128: 7, 256: 8}[size]
  out = jax.eval_shape(
      lambda x: unet.UNetGenerator(2, depth, features=8).init_with_output(
          jax.random.key(0), x, train=False)[0],
      jnp.zeros((2, size, size, 1)))
  assert out.shape == (2, size, size, 2)
  with pytest.raises(ValueError, match='power of 2'):
    unet.unet_depth(size + 16)


def test_patchgan_cell_sees_exactly_a_70x70_window():
  assert [patchgan.receptive_field(n) for n in (0, 1, 3, 5)] == [
      7, 16, 70, 286]
  d = patchgan.PatchGAN(3, features=4)
  x = jax.random.normal(jax.random.key(1), (1, 128, 128, 2))
  variables = d.init(jax.random.key(0), x, train=False)
  logits = d.apply(variables, x, train=False)
  assert logits.shape == (1, 14, 14)  # 128 / 8 = 16, two 4x4 s1 convs.
  # Eval-mode BatchNorm: no statistic mixes positions.
  grad = jax.grad(lambda x: d.apply(variables, x, train=False)[0, 6, 7])(x)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
  assert rows.max() - rows.min() + 1 == 70
  assert cols.max() - cols.min() + 1 == 70
  # Cell (i, j) starts at 8 i - 23: stride 8; the paddings of the three
  # stride-2 convolutions (1 + 2 + 4) and of the two stride-1 ones (8 + 8).
  assert (rows.min(), cols.min()) == (6 * 8 - 23, 7 * 8 - 23)


def write_aligned(root, n=12, size=24, seed=0, same=False):
  """A|B images: A random smooth colours, B its negative (or A itself)."""
  rng = np.random.default_rng(seed)
  root.mkdir(parents=True, exist_ok=True)
  for i in range(n):
    small = rng.integers(0, 256, (4, 4, 3), np.uint8)
    a = np.asarray(Image.fromarray(small).resize((size, size),
                                                 Image.BILINEAR))
    b = a if same else 255 - a
    Image.fromarray(np.concatenate([a, b], axis=1)).save(root / f'{i}.png')


def tiny(config, data_dir, size=32):
  config.data.data_dir = str(data_dir)
  config.data.load_size = size + 4
  config.data.crop_size = size
  config.model.g_features = 4
  config.model.d_features = 4
  config.train.batch_size = 4
  config.train.num_steps = 3
  config.checkpoint_every = 2
  config.log_every = 1
  config.sample_every = 1000
  config.num_samples = 4
  return config


def test_source_and_target_get_the_same_crop_and_flip(tmp_path):
  write_aligned(tmp_path / 'train', n=6, size=40, same=True)
  config = tiny(pix2pix.get_config('aligned'), tmp_path)
  config.data.load_size = 48
  config.train.batch_size = 6
  data = paired_data.PairedData(config)
  crops = set()
  for step in range(4):  # Steps 0-3: epochs 0-3 of 6 pairs.
    batch = data.batch(step)
    np.testing.assert_array_equal(batch['source'], batch['target'])
    np.testing.assert_array_equal(batch['source'], data.batch(step)['source'])
    crops.add(batch['source'].tobytes())
  assert len(crops) == 4  # Fresh crops and flips every epoch.
  top, left, flip = data.crops(0, np.arange(600) // 6, np.arange(600) % 6)
  assert top.max() == left.max() == 16 and top.min() == 0
  assert 0.4 < flip.mean() < 0.6
  # Two processes' rows are the global batch's.
  parts = [data.batch(1, p, 2)['source'] for p in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), data.batch(1)['source'])


def test_pairs_made_from_a_folder(tmp_path):
  rng = np.random.default_rng(0)
  (tmp_path / 'train').mkdir()
  image = np.zeros((32, 32, 3), np.uint8)
  image[8:24, 8:24] = rng.integers(100, 256, 3)  # A square: four edges.
  Image.fromarray(image).save(tmp_path / 'train' / 'a.png')
  source, target = paired_data.make_pair(image, 'colorize', 'a.png')
  assert source.shape == (32, 32, 1) and target is image
  np.testing.assert_array_equal(
      source[..., 0], np.asarray(Image.fromarray(image).convert('L')))
  lines, _ = paired_data.make_pair(image, 'edges', 'a.png', edge_sigma=1.0)
  assert lines.shape == (32, 32, 1) and set(np.unique(lines)) == {0, 255}
  edge_rows = np.nonzero((lines[..., 0] == 0).any(1))[0]
  assert edge_rows.min() >= 6 and edge_rows.max() <= 25  # Around the square.
  assert (lines[..., 0] == 0).mean() < 0.2
  with pytest.raises(input_pipeline.DataError, match='colour targets'):
    paired_data.make_pair(image[..., :1], 'colorize', 'grey.png')


def test_bad_pairs_and_sizes_are_clear_errors(tmp_path):
  (tmp_path / 'train').mkdir()
  Image.fromarray(np.zeros((32, 63, 3), np.uint8)).save(
      tmp_path / 'train' / 'odd.png')
  config = tiny(pix2pix.get_config('aligned'), tmp_path)
  with pytest.raises(input_pipeline.DataError, match='even width'):
    train.train_and_evaluate(config, tmp_path / 'run')
  Image.fromarray(np.zeros((16, 160, 3), np.uint8)).save(
      tmp_path / 'train' / 'odd.png')
  with pytest.raises(input_pipeline.DataError, match='not an aligned pair'):
    train.train_and_evaluate(config, tmp_path / 'run')
  config = tiny(pix2pix.get_config('aligned'), tmp_path, size=48)
  with pytest.raises(errors.ConfigError, match='crop_size=48'):
    train.train_and_evaluate(config, tmp_path / 'run')
  config = tiny(pix2pix.get_config('aligned'), tmp_path)
  config.model.latent_dim = 10  # A noise-GAN option: not in this family.
  with pytest.raises(errors.ConfigError, match='paired'):
    train.train_and_evaluate(config, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


def test_losses_equal_a_float64_reference(tmp_path):
  write_aligned(tmp_path / 'train', n=4)
  config = tiny(pix2pix.get_config('aligned'), tmp_path)
  data = paired_data.PairedData(config)
  paired.Paired.resolve(config, data)
  family = paired.Paired(config, data.spec)
  state = family.init(jax.random.key(0))
  batch = data.batch(0)
  new_state, metrics = jax.jit(family.update)(state, batch)
  source = input_pipeline.to_model_input(batch['source'])
  target = input_pipeline.to_model_input(batch['target'])
  key = jax.random.fold_in(jax.random.key(config.seed), 0)

  @jax.jit  # One compiled call: op by op, the nets would take minutes.
  def reference_logits(state, new_state):
    fake, _ = family.generate(state.g_params, state.g_state, source, key)
    real_logits, d_state = family.discriminate(state.d_params, state.d_state,
                                               source, target)
    fake_logits, d_state = family.discriminate(state.d_params, d_state,
                                               source, fake)
    g_logits, _ = family.discriminate(new_state.d_params, d_state, source,
                                      fake)
    return fake, real_logits, fake_logits, g_logits

  fake, real_logits, fake_logits, g_logits = reference_logits(state,
                                                              new_state)
  softplus = lambda x: np.logaddexp(0.0, x)  # pylint: disable=unnecessary-lambda-assignment
  r, f = (np.asarray(x, np.float64) for x in (real_logits, fake_logits))
  # Isola et al. eq. 1, halved for D; the authors' BCEWithLogits means.
  expected_d = 0.5 * (np.mean(softplus(-r)) + np.mean(softplus(f)))
  np.testing.assert_allclose(float(metrics['d_loss']), expected_d, rtol=1e-5)
  l1 = np.mean(np.abs(np.asarray(target, np.float64) -
                      np.asarray(fake, np.float64)))
  expected_g = np.mean(softplus(-np.asarray(g_logits, np.float64))) + 100 * l1
  np.testing.assert_allclose(float(metrics['g_l1']), l1, rtol=1e-5)
  np.testing.assert_allclose(float(metrics['g_loss']), expected_g, rtol=1e-5)


def test_linear_decay_is_the_authors_schedule():
  factor = paired.linear_decay(100, 100, steps_per_epoch=10)
  # Epoch e (1-based): 1 up to 100, then 1 - (e - 100) / 101.
  assert [float(factor(s)) for s in (0, 999, 1000, 1999)] == pytest.approx(
      [1.0, 1.0, 1 - 1 / 101, 1 - 100 / 101])


def assert_same_state(a, b, rtol=1e-5):
  a, b = jax.device_get(a), jax.device_get(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(y, np.float64), rtol=rtol,
                               atol=10 * rtol)


def test_resume_and_eight_devices_match(tmp_path):
  write_aligned(tmp_path / 'data' / 'train', n=12)
  config = tiny(pix2pix.get_config('aligned'), tmp_path / 'data')
  config.train.batch_size = 8
  config.train.num_steps = 2
  train.train_and_evaluate(config, tmp_path / 'stopped')
  config.train.num_steps = 4
  resumed = train.train_and_evaluate(config, tmp_path / 'stopped')
  straight = train.train_and_evaluate(config, tmp_path / 'straight')
  assert_same_state(resumed, straight, rtol=1e-6)
  one = train.train_and_evaluate(config, tmp_path / 'one', jax.devices()[:1])
  assert len(jax.devices()) == 8
  # Another summation order over 8 devices: float tolerance, not bits.
  assert_same_state(straight, one, rtol=1e-4)
  counts = json.loads((tmp_path / 'one' / 'networks.json').read_text())
  assert counts == {'generator': networks.count_parameters(one.g_params),
                    'discriminator': networks.count_parameters(one.d_params)}


def test_a_short_run_beats_copying_the_input(tmp_path):
  # B is the negative of A: copying the input is the worst answer (L1 0.37
  # on [0, 1] here). 150 steps of L1 + cGAN bring held-out L1 far below it;
  # the margin (measured: 0.0254-0.0260 over seeds 0-2 against 0.374, Xeon
  # AVX-512) leaves room for any processor's rounding. A trainer that does not learn stays
  # near the untrained 0.25-0.5.
  write_aligned(tmp_path / 'train', n=32, seed=0)
  write_aligned(tmp_path / 'test', n=16, seed=1)
  config = tiny(pix2pix.get_config('aligned'), tmp_path)
  config.model.g_features = 8
  config.train.batch_size = 8
  config.train.num_steps = 150
  config.train.g_optimizer.learning_rate = 1e-3
  config.log_every = 50
  config.eval_every = 150
  state = train.train_and_evaluate(config, tmp_path / 'run',
                                   jax.devices()[:1])
  data = paired_data.PairedData(config)
  pairs = data.eval_pairs()
  trainer = train.Trainer(config, data.spec, jax.devices()[:1])
  outputs = trainer.predict(state, {'source': pairs['source']})
  learned = translation_eval.pair_metrics(outputs, pairs['target'])
  copied = translation_eval.input_copy(pairs)
  assert copied['l1'] > 0.3
  assert learned['l1'] < 0.5 * copied['l1'], (learned, copied)
  history = (tmp_path / 'run' / 'eval' / 'history.jsonl').read_text()
  assert json.loads(history)['eval/l1'] == pytest.approx(learned['l1'],
                                                         rel=1e-6)
  assert (tmp_path / 'run' / 'checkpoints_best').is_dir()


def write_folder(root, names, n=4, size=40, grey=False):
  rng = np.random.default_rng(0)
  for name in names:
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
      small = rng.integers(0, 256, (5, 5, 1 if grey else 3), np.uint8)
      image = np.asarray(Image.fromarray(small.squeeze()).resize(
          (size, int(size * 1.2)) if grey else (size, size), Image.BILINEAR))
      Image.fromarray(image).save(root / name / f'{i}.png')


ONE_DEVICE = {**os.environ, 'XLA_FLAGS': ''}
TINY_ARGS = ['--config.model.g_features=4', '--config.model.d_features=4',
             '--config.train.batch_size=2', '--config.train.num_steps=3',
             '--config.log_every=1', '--config.sample_every=3',
             '--config.num_samples=2']


@pytest.mark.parametrize('arg', ['aligned', 'colorize', 'edges',
                                 'cifar10_colorization', 'orl_edges'])
def test_every_paired_config_trains(arg, tmp_path):
  data = tmp_path / 'data'
  extra = []
  if arg == 'aligned':
    write_aligned(data / 'train', n=4)
    write_aligned(data / 'test', n=2)
    extra = ['--config.data.load_size=36', '--config.data.crop_size=32']
  elif arg == 'orl_edges':  # Its layout: person folders, four held out.
    write_folder(data, [f's{i}' for i in range(35, 41)], n=2, grey=True)
    extra = ['--config.data.load_size=32', '--config.data.crop_size=32']
  else:
    write_folder(data, ['train', 'test'])
    if arg != 'cifar10_colorization':
      extra = ['--config.data.load_size=36', '--config.data.crop_size=32']
  workdir = tmp_path / 'run'
  overrides = [f'--config.data.data_dir={data}', *TINY_ARGS, *extra]
  if arg in ('aligned', 'orl_edges'):  # The command line, as a user runs it.
    result = subprocess.run(
        [sys.executable, '-m', 'jaxgan.main',
         f'--config=configs/pix2pix.py:{arg}', f'--workdir={workdir}',
         *overrides], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=ONE_DEVICE)
    assert result.returncode == 0, result.stderr[-3000:]
  else:  # The same settings in-process (no interpreter start, ~10 s each).
    config = pix2pix.get_config(arg)
    config.data.data_dir = str(data)
    if extra:
      config.data.load_size, config.data.crop_size = 36, 32
    config.model.g_features = config.model.d_features = 4
    config.train.batch_size, config.train.num_steps = 2, 3
    config.log_every, config.sample_every, config.num_samples = 1, 3, 2
    train.train_and_evaluate(config, workdir, jax.devices()[:1])
  rows = [json.loads(l) for l in
          (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3]
  assert all(np.isfinite(r['g_loss']) for r in rows)
  assert (workdir / 'samples' / 'step_000003.png').exists()
  assert set(json.loads((workdir / 'networks.json').read_text())) == {
      'generator', 'discriminator'}
  if arg == 'orl_edges':  # The translator on the user's own images.
    out = tmp_path / 'translated'
    face = np.random.default_rng(1).integers(0, 256, (50, 37), np.uint8)
    Image.fromarray(face).save(tmp_path / 'face.png')
    result = subprocess.run(
        [sys.executable, '-m', 'jaxgan.translate', f'--workdir={workdir}',
         f'--input={tmp_path / "face.png"}', f'--out={out}', '--pairs'],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=ONE_DEVICE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert np.asarray(Image.open(out / 'face.png')).shape == (50, 37)
    assert (out / 'grid_face.png').exists()


def test_translate_pads_any_size_and_crops_back(tmp_path):
  write_aligned(tmp_path / 'data' / 'train', n=4)
  config = tiny(pix2pix.get_config('aligned'), tmp_path / 'data')
  config.train.num_steps = 1
  train.train_and_evaluate(config, tmp_path / 'run', jax.devices()[:1])
  translator = translate.load(tmp_path / 'run')
  image = np.random.default_rng(0).integers(0, 256, (45, 70, 3), np.uint8)
  out = translator.translate(image)
  assert out.shape == (45, 70, 3) and np.all(np.abs(out) <= 1)
  # A 32x32 input needs no padding: the same as the generator on it.
  np.testing.assert_allclose(translator.translate(image[:32, :32]),
                             translator(image[None, :32, :32])[0], atol=1e-6)
  with pytest.raises(errors.ConfigError, match='translates one way, AtoB'):
    translate.load(tmp_path / 'run', direction='BtoA')
  with pytest.raises(errors.ConfigError, match='jaxgan.translate'):
    from jaxgan import sample  # pylint: disable=g-import-not-at-top
    sample.load(tmp_path / 'run')
  # A noise-GAN config in this workdir is refused, naming the family.
  from configs import gan_mlp  # pylint: disable=g-import-not-at-top
  config = gan_mlp.get_config('ring8')
  config.train.num_steps = 2
  with pytest.raises(errors.UserError, match="'paired' family"):
    train.train_and_evaluate(config, tmp_path / 'run')


def test_fixture_of_the_pre_families_layout_loads_samples_and_resumes(
    tmp_path):
  # Written by jaxgan before families (commit e3632df): its config and meta
  # have no 'family' and its batches were {'x': ...}.
  workdir = tmp_path / 'run'
  shutil.copytree(ROOT / 'tests' / 'fixtures' / 'pre_families_ring8', workdir)
  from jaxgan import checkpoints, sample  # pylint: disable=g-import-not-at-top
  meta = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                  read_only=True).read_meta(4)
  assert 'family' not in meta['config']
  generator = sample.load(workdir)
  z = np.random.default_rng(0).normal(
      size=(5, generator.config.model.latent_dim)).astype(np.float32)
  assert generator(z, ema=True).shape == (5, 2)
  config = checkpoints.config_from_meta(meta)
  config.train.num_steps = 6
  state = train.train_and_evaluate(config, workdir, jax.devices()[:1])
  assert int(jax.device_get(state.step)) == 6
  rows = [json.loads(l) for l in
          (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [2, 4, 6]


@flax.struct.dataclass
class _MeanState:
  step: jax.Array
  estimate: jax.Array


class _MeanFamily(paired.base.Family):
  """A tiny family: its one 'network' learns the data's mean by SGD."""
  name = 'mean'
  weights = ('estimate',)

  @classmethod
  def add_config(cls, config):
    config.train.learning_rate = 0.5

  @classmethod
  def create_data(cls, config):
    return _MeanData(config)

  def init(self, key):
    del key
    return _MeanState(jnp.zeros((), jnp.int32), jnp.zeros(()))

  def update(self, state, batch):
    values = batch['value']
    grad = state.estimate - jnp.mean(values)
    estimate = state.estimate - self.config.train.learning_rate * grad
    metrics = {'loss': jnp.mean((values - state.estimate) ** 2)}
    metrics['finite'] = jnp.isfinite(metrics['loss'])
    return _MeanState(state.step + 1, estimate), metrics

  def batches(self, data, start_step):
    return input_pipeline.prefetched(data.batch, start_step)

  def predict(self, state, inputs, ema=False):
    return jnp.full(inputs['shape'].shape, state.estimate)

  def sample_inputs(self, data, num):
    return {'shape': np.zeros((num, 2), np.float32)}

  def draw_samples(self, path, inputs, outputs, data):
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(f'{float(outputs[0, 0])}\n')

  def networks(self, state):
    return {'estimate': state.estimate}


class _MeanData:
  spec = ()
  name = 'normal(3, 1)'

  def __init__(self, config):
    self.config = config

  def describe(self):
    return self.name

  def meta(self):
    return {'dataset': self.name}

  def batch(self, step):
    rng = np.random.default_rng([self.config.seed, step])
    return {'value': rng.normal(3.0, 1.0, self.config.train.batch_size
                                ).astype(np.float32)}


def test_the_loop_serves_a_family_it_does_not_know(tmp_path, monkeypatch):
  from jaxgan import families, config_lib  # pylint: disable=g-import-not-at-top
  monkeypatch.setitem(families.FAMILIES, 'mean',
                      (__name__, '_MeanFamily'))
  config = config_lib.default_config('mean')
  config.train.batch_size = 8
  config.train.num_steps = 6
  config.checkpoint_every = 2
  config.log_every = 2
  config.sample_every = 3
  stopped = train.train_and_evaluate(config, tmp_path / 'a')
  config.train.num_steps = 12
  config.train.steps_per_dispatch = 3
  resumed = train.train_and_evaluate(config, tmp_path / 'a')
  config.train.steps_per_dispatch = 1
  straight = train.train_and_evaluate(config, tmp_path / 'b')
  assert float(stopped.estimate) != float(straight.estimate)
  np.testing.assert_allclose(float(resumed.estimate),
                             float(straight.estimate), rtol=1e-6)
  assert abs(float(straight.estimate) - 3.0) < 0.5  # It learns the mean.
  rows = [json.loads(l) for l in
          (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
  # Dispatches of 3 steps log when they cross a multiple of log_every.
  assert [r['step'] for r in rows] == [2, 4, 6, 9, 12]
  assert json.loads((tmp_path / 'a' / 'networks.json').read_text()) == {
      'estimate': 1}
  assert sorted(os.listdir(tmp_path / 'a' / 'samples')) == [
      'step_000003.png', 'step_000006.png', 'step_000009.png',
      'step_000012.png']
