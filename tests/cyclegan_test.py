"""CycleGAN (the unpaired family): the networks at the authors' parameter
counts, one iteration's losses against a float64 reference, exact resume
with the pools, a short run whose translations cross to the other domain
by a domain classifier, the evaluation of both directions, and translating
in both directions."""

import json
import os
import pathlib
import subprocess
import sys
import types

import jax
import numpy as np
from PIL import Image
import pytest

from benchmarks import cyclegan_table
from configs import cyclegan
from jaxgan import classifier
from jaxgan import errors
from jaxgan import families
from jaxgan import input_pipeline
from jaxgan import networks
from jaxgan import train
from jaxgan import translate
from jaxgan.families import unpaired
from jaxgan.families.unpaired import data as unpaired_data
from jaxgan.families.unpaired import domain_classifier
from jaxgan.families.unpaired import evaluation as unpaired_evaluation

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_networks_have_the_authors_parameter_counts():
  config = cyclegan.get_config('unaligned')
  spec = {'A': (256, 256, 3), 'B': (256, 256, 3), 'num_examples': 1}
  family = families.get('unpaired')(config, spec)
  state = jax.eval_shape(family.init, jax.random.key(0))
  counts = {k: networks.count_parameters(v)
            for k, v in family.networks(state).items()}
  assert counts == {'G_A': 11_378_179, 'G_B': 11_378_179,
                    'D_A': 2_764_737, 'D_B': 2_764_737}
  assert state.pools['A'].images.shape == (50, 256, 256, 3)


def write_domains(root, n=4, size=20, folders=('trainA', 'trainB')):
  """Dark (A) and bright (B) noisy images."""
  rng = np.random.default_rng(0)
  for folder in folders:
    base = 40 if folder.endswith('A') else 200
    (root / folder).mkdir(parents=True)
    for i in range(n):
      image = np.clip(base + rng.integers(-30, 30, (size, size, 3)), 0, 255)
      Image.fromarray(image.astype(np.uint8)).save(root / folder / f'{i}.png')


def tiny(root, steps):
  config = cyclegan.get_config('unaligned')
  config.data.data_dir = str(root)
  config.data.load_size, config.data.crop_size = 20, 16
  config.model.generator = 'resnet_6blocks'
  config.model.g_features = 4
  config.model.d_features = 4
  config.model.n_layers = 1
  config.model.pool_size = 3
  config.train.num_steps = steps
  config.train.n_epochs, config.train.n_epochs_decay = 1, 1
  config.checkpoint_every = 2
  config.log_every = 1
  config.sample_every = 1000
  config.num_samples = 2
  return config


def test_resumes_exactly_with_the_pools_and_writes_its_networks(tmp_path):
  write_domains(tmp_path / 'data')
  config = tiny(tmp_path / 'data', steps=3)
  train.train_and_evaluate(config, tmp_path / 'stopped', jax.devices()[:1])
  config.train.num_steps = 6
  resumed = train.train_and_evaluate(config, tmp_path / 'stopped',
                                     jax.devices()[:1])
  straight = train.train_and_evaluate(config, tmp_path / 'straight',
                                      jax.devices()[:1])
  # 6 fakes of each domain went through pools of 3: full, and swapping.
  assert int(straight.pools['A'].count) == 3
  for x, y in zip(jax.tree.leaves(jax.device_get(resumed)),
                  jax.tree.leaves(jax.device_get(straight)), strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(y, np.float64), rtol=1e-5,
                               atol=1e-6)
  nets = json.loads((tmp_path / 'straight' / 'networks.json').read_text())
  assert set(nets) >= {'G_A', 'G_B', 'D_A', 'D_B'}
  grid = np.asarray(Image.open(next(
      (tmp_path / 'straight' / 'samples').glob('*.png'))))
  assert grid.shape[1] == 6 * 18 + 2  # A | G_A(A) | rec A | B | ... | rec B


def test_bad_generator_and_missing_domain_are_clear(tmp_path):
  config = cyclegan.get_config('unaligned')
  config.model.generator = 'srresnet'
  with pytest.raises(Exception, match='unpaired family builds'):
    families.get('unpaired').validate(config)
  config = tiny(tmp_path / 'nothing', steps=1)
  with pytest.raises(Exception, match='trainA'):
    families.get('unpaired').create_data(config)


def test_losses_equal_a_float64_reference(tmp_path):
  write_domains(tmp_path / 'data')
  config = tiny(tmp_path / 'data', steps=1)
  data = unpaired_data.UnpairedData(config)
  unpaired.Unpaired.resolve(config, data)
  family = unpaired.Unpaired(config, data.spec)
  state = family.init(jax.random.key(0))
  batch = data.batch(0)
  _, metrics = jax.jit(family.update)(state, batch)
  a, b = (input_pipeline.to_model_input(batch[d]) for d in ('A', 'B'))

  @jax.jit  # One compiled call: op by op, the nets would take minutes.
  def outputs(state):
    g = lambda name, x: family.generate(name, state.g_params, state.g_state,  # pylint: disable=g-long-lambda
                                        x)[0]
    d = lambda name, x: family.discriminate(name, state.d_params,  # pylint: disable=g-long-lambda
                                            state.d_state, x)[0]
    fake_b, fake_a = g('G_A', a), g('G_B', b)
    return dict(fake_b=fake_b, fake_a=fake_a, rec_a=g('G_B', fake_b),
                rec_b=g('G_A', fake_a), idt_b=g('G_A', b), idt_a=g('G_B', a),
                da_fake=d('D_A', fake_b), db_fake=d('D_B', fake_a),
                da_real=d('D_A', b), db_real=d('D_B', a))

  o = {k: np.asarray(v, np.float64) for k, v in outputs(state).items()}
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  l1 = lambda x, y: np.mean(np.abs(x - y))  # pylint: disable=unnecessary-lambda-assignment
  mse = lambda x, t: np.mean(np.square(x - t))  # pylint: disable=unnecessary-lambda-assignment
  # The authors' backward_G: GANLoss('lsgan') is MSE against 1; cycle and
  # identity L1 with lambda 10 and 0.5 x lambda.
  expected = {
      'g_gan_A': mse(o['da_fake'], 1), 'g_gan_B': mse(o['db_fake'], 1),
      'g_cycle_A': l1(o['rec_a'], a), 'g_cycle_B': l1(o['rec_b'], b),
      'g_idt_A': l1(o['idt_b'], b), 'g_idt_B': l1(o['idt_a'], a)}
  expected['g_loss'] = (expected['g_gan_A'] + expected['g_gan_B'] +
                        10 * (expected['g_cycle_A'] + expected['g_cycle_B']) +
                        5 * (expected['g_idt_A'] + expected['g_idt_B']))
  # backward_D_basic: (MSE(D(real), 1) + MSE(D(fake), 0)) * 0.5, on the
  # fakes of the G before its update (the pools return them while filling)
  # and the D before its.
  expected['d_A'] = 0.5 * (mse(o['da_real'], 1) + mse(o['da_fake'], 0))
  expected['d_B'] = 0.5 * (mse(o['db_real'], 1) + mse(o['db_fake'], 0))
  expected['d_loss'] = expected['d_A'] + expected['d_B']
  for name, value in expected.items():
    np.testing.assert_allclose(float(metrics[name]), value, rtol=1e-5,
                               err_msg=name)


def test_translate_serves_both_directions_and_refuses_others(learned,
                                                             tmp_path):
  run = learned['run']
  image = np.random.default_rng(0).integers(0, 256, (18, 23, 3), np.uint8)
  outs = {}
  for direction in ('AtoB', 'BtoA'):
    translator = translate.load(run, direction=direction)
    outs[direction] = translator.translate(image)
    assert outs[direction].shape == (18, 23, 3)
  # Two generators: the directions differ.
  assert not np.allclose(outs['AtoB'], outs['BtoA'])
  with pytest.raises(errors.ConfigError, match='AtoB or BtoA'):
    translate.load(run, direction='AtoC')
  Image.fromarray(image).save(tmp_path / 'photo.png')
  done = subprocess.run(
      [sys.executable, '-m', 'jaxgan.translate',
       f'--workdir={run}', '--direction=BtoA',
       f'--input={tmp_path / "photo.png"}', f'--out={tmp_path / "out"}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  saved = np.asarray(Image.open(tmp_path / 'out' / 'photo.png'))
  expected = np.clip(np.round((outs['BtoA'] + 1) * 127.5), 0, 255)
  assert np.abs(saved.astype(int) - expected).max() <= 1


class StandInFeatures:
  """A feature network for the tests: per-channel means and deviations of
  4x4 blocks (Inception's weights are not on a CI machine)."""

  def __call__(self, images):
    x = np.asarray(images, np.float64) / 255.0
    n, h, w, c = x.shape
    blocks = x.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4))
    return np.concatenate([blocks.reshape(n, -1), x.std(axis=(1, 2))],
                          -1), None

  def protocol(self):
    return {'network': 'stand-in', 'weights_sha256': '0'}


def test_evaluation_scores_both_directions_and_the_cycle(learned):
  history = learned['history']
  assert history[-1]['step'] == learned['config'].train.num_steps
  assert 0 < history[-1]['eval/cycle'] < 1
  assert history[-1]['eval/n_A'] == history[-1]['eval/n_B'] == 8
  config = learned['config']
  data = unpaired_data.UnpairedData(config)
  images = data.eval_images()
  network = StandInFeatures()
  copy = unpaired_evaluation.input_copy(images, network)
  # Translating a domain into the other's own images scores FID 0 (to
  # rounding); the untranslated inputs score far from it; an exact
  # reconstruction scores cycle 0.
  perfect = unpaired_evaluation.direction_metrics(
      images, {'fake_B': images['B'], 'fake_A': images['A'],
               'rec_A': images['A'], 'rec_B': images['B']}, network)
  assert perfect['fid'] < 1e-6 and perfect['cycle'] == 0
  assert copy['fid_AtoB'] > 0.1 and copy['fid_BtoA'] > 0.1
  assert 'cycle' not in copy


@pytest.fixture(scope='module')
def learned(build_once):
  """A short fixed-seed run on dark (A) and bright (B) images, scored
  during training by a domain classifier of the two: the run behind the
  learning, evaluation and translation tests (built once per test run)."""

  def config_of(root):
    config = tiny(root / 'data', steps=12)
    config.train.n_epochs, config.train.n_epochs_decay = 100, 0
    for name in ('g_optimizer', 'd_optimizer'):
      config.train[name].learning_rate = 2e-3
    config.eval_every = 4
    config.eval.classifier = str(root / 'domains.npz')
    return config

  def build(root):
    write_domains(root / 'data', n=8,
                  folders=('trainA', 'trainB', 'testA', 'testB'))
    config = config_of(root)
    data = unpaired_data.UnpairedData(config)
    params, accuracy, meta = domain_classifier.train(data, epochs=20)
    assert accuracy == 1.0  # Dark against bright.
    classifier.save(config.eval.classifier, params, meta)
    train.train_and_evaluate(config, root / 'run', jax.devices()[:1])

  root = build_once('cyclegan-learned', build)
  config = config_of(root)
  read = lambda name: [json.loads(line) for line in  # pylint: disable=g-long-lambda
                       (root / 'run' / name).read_text().splitlines()]
  return {'config': config, 'run': root / 'run',
          'data': unpaired_data.UnpairedData(config),
          'classifier': root / 'domains.npz',
          'metrics': read('metrics.jsonl'),
          'history': read('eval/history.jsonl')}


def test_short_run_cycle_falls_and_translations_cross_to_the_target(learned):
  cycle = [m['g_cycle_A'] + m['g_cycle_B'] for m in learned['metrics']
           if 'g_cycle_A' in m]
  assert len(cycle) == 12 and cycle[-1] < 0.5 * cycle[0]
  # The classifier takes the untranslated inputs for their own domain, and
  # the translations for the other.
  network = domain_classifier.load(learned['config'], learned['classifier'])
  copy = unpaired_evaluation.input_copy(learned['data'].eval_images(), None,
                                        None, network)
  assert copy['success_AtoB'] == copy['success_BtoA'] == 0.0
  last = learned['history'][-1]
  assert last['eval/success_AtoB'] >= 0.9 and last['eval/success_BtoA'] >= 0.9


def test_evaluate_unpaired_command_scores_the_run_and_the_inputs(
    learned, tmp_path, monkeypatch):
  monkeypatch.setenv('JAXGAN_CACHE', str(tmp_path / 'cache'))
  flags = types.SimpleNamespace(workdir=str(learned['run']), step=None,
                                best=False, fid=False, num=None, out=None)
  results = {}
  for method in ('model', 'input'):
    if method == 'input':  # Trained by its command, saved in the cache.
      domain_classifier.command(types.SimpleNamespace(
          workdir=str(learned['run']), epochs=20, seed=0, out=None))
    else:  # No classifier yet: scored without, and says how to train it.
      os.makedirs(os.path.dirname(
          domain_classifier.path_of(learned['config'])))
    flags.method, flags.out = method, str(tmp_path / method)
    unpaired_evaluation.command(flags)
    results[method] = json.loads((tmp_path / method / 'result.json')
                                 .read_text())
    assert (tmp_path / method / 'grid.png').exists()
  model, copied = results['model'], results['input']
  assert 'domain-classifier --workdir=' in model['success']
  assert model['cycle'] == pytest.approx(learned['history'][-1]['eval/cycle'],
                                         rel=1e-6)
  assert 'cycle' not in copied and copied['success'] == 0.0
  assert copied['classifier']['test_accuracy'] == 1.0
  # The README table's script: the same numbers, both rows in one call.
  rows = cyclegan_table.table([str(learned['run'])])
  assert [r['method'] for r in rows] == ['input', 'model']
  assert rows[0]['success'] == copied['success']
  assert rows[1]['cycle'] == pytest.approx(model['cycle'], rel=1e-6)
  assert rows[1]['steps'] == 12 and rows[1]['train_seconds'] > 0
  assert rows[1]['success'] >= 0.9
  # The command needs an unpaired run's directory.
  with pytest.raises(errors.ConfigError, match='must be an unpaired run'):
    domain_classifier.command(types.SimpleNamespace(
        workdir=str(tmp_path), epochs=1, seed=0, out=None))
  # A classifier of other domains is refused, naming the command.
  other = learned['config'].copy_and_resolve_references()
  other.data.train_dirs = ('trainB', 'trainA')
  with pytest.raises(errors.ConfigError, match='domain-classifier'):
    domain_classifier.load(other, str(learned['classifier']))
