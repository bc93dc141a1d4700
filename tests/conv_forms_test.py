"""Convolution forms chosen by measurement: the same numbers, cached, pinned,
bounded, and one choice for every process."""

import json
import logging
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan, wgan_gp
from jaxgan import train
from jaxgan.networks import conv_forms
from jaxgan.networks import layers
from jaxgan.networks import patchgan
from jaxgan.networks import unet

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = ROOT / 'tests' / 'conv_forms_worker.py'


@pytest.fixture
def tuning(monkeypatch, tmp_path):
  """Measurement on, a fresh cache directory, a fresh process table.

  The budget is far above what the tiny models need: on a slow CI machine,
  two test workers sharing two cores, timing a tiny DCGAN's four sites took
  31 s, and the budget's own test sets its own."""
  monkeypatch.setenv('JAXGAN_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setenv(conv_forms.BUDGET_ENV, '900')
  conv_forms.reset()
  yield tmp_path / 'cache'
  conv_forms.reset()


@pytest.fixture
def fake_timing(monkeypatch):
  """`measure` without timing: every valid form gets made-up milliseconds
  and the rule's form wins, so no whole-iteration trial follows. For the
  tests of the cache's bookkeeping; the real timing has its own tests."""
  def measure(site, looped=False):
    forms = conv_forms.candidates(site)
    ms = {name: 1.0 + i for i, name in enumerate(
        sorted(forms, key=lambda n: n != conv_forms.rule(site)))}
    return {'alone': conv_forms.rule(site), 'ms': ms}
  monkeypatch.setattr(conv_forms, 'measure', measure)


# --- The same numbers whatever the choice. ---

SITES = [
    conv_forms.Site('down', (2, 8, 8, 32), 16, 'float32', 1),
    conv_forms.Site('down', (2, 7, 9, 3), 8, 'float32', 1),  # odd: no s2d
    conv_forms.Site('down', (2, 8, 8, 64), 32, 'float32', 2),
    conv_forms.Site('up', (2, 4, 4, 32), 16, 'float32', 1),
    conv_forms.Site('up', (2, 4, 6, 16), 3, 'float32', 1),
    # UpConv3, PyTorch's ConvTranspose2d(3, 2, 1, 1) (the ResNet generator).
    conv_forms.Site('up', (2, 4, 5, 16), 8, 'float32', 1, 3),
    conv_forms.Site('up', (1, 3, 3, 8), 24, 'float32', 2, 3),
    conv_forms.Site('patch', (2, 6, 6, 16), 8, 'float32', 1, 4, 1),
    conv_forms.Site('patch', (2, 6, 6, 8), 4, 'float32', 2, 3, 1),
    # 3x3 stride 1 with odd output sides: Winograd's tiles overhang.
    conv_forms.Site('patch', (2, 7, 5, 16), 8, 'float32', 1, 3, 0),
    # 3x3 stride 2 (SRGAN's and the ResNet generator's): even, odd, and
    # without padding, where the polyphase tiles read fewer padded rows.
    conv_forms.Site('patch', (2, 8, 8, 16), 8, 'float32', 1, 3, 1, 2),
    conv_forms.Site('patch', (2, 9, 7, 8), 4, 'float32', 2, 3, 1, 2),
    conv_forms.Site('patch', (1, 10, 9, 8), 4, 'float32', 1, 3, 0, 2),
]


@pytest.mark.parametrize('site', SITES, ids=lambda s: s.key)
def test_every_form_agrees_with_xla_to_second_order(site):
  names = conv_forms.candidates(site)
  assert len(names) >= 2 and conv_forms.rule(site) in names
  if site.kind == 'down':
    assert ('s2d' in names) == (site.shape[1] % 2 == 0)
  x = jax.random.normal(jax.random.key(0), site.shape)
  k = jax.random.normal(jax.random.key(1), (site.kernel_size,) * 2 +
                        (site.shape[-1], site.features)) * 0.2
  xla = conv_forms.build(site, 'xla')
  w = jax.random.normal(jax.random.key(2), jax.eval_shape(xla, x, k).shape)

  def outputs(form):
    loss = lambda x, k: jnp.sum(jnp.sin(form(x, k)) * w)  # pylint: disable=unnecessary-lambda-assignment
    penalty = lambda k: jnp.sum(jax.grad(loss)(x, k) ** 2)  # pylint: disable=unnecessary-lambda-assignment
    return (form(x, k), *jax.grad(loss, argnums=(0, 1))(x, k),
            jax.grad(penalty)(k))

  want = jax.jit(lambda: outputs(xla))()
  for name in names:
    got = jax.jit(lambda name=name: outputs(conv_forms.build(site, name)))()
    for g, v in zip(got, want):
      # float32 sums in another order: errors relative to the largest entry.
      np.testing.assert_allclose(g, v, rtol=1e-4,
                                 atol=1e-4 * float(jnp.abs(v).max()),
                                 err_msg=name)


def _force(monkeypatch, pick):
  """Every 'tuned' layer takes candidates(site)[pick % their number]."""
  monkeypatch.setattr(conv_forms, 'choose', lambda site: (
      conv_forms.candidates(site)[pick % len(conv_forms.candidates(site))]))


@pytest.mark.parametrize('network', ['unet_32', 'patchgan', 'wgan_gp_critic'])
def test_networks_agree_whatever_the_forms(network, monkeypatch):
  if network == 'unet_32':
    model = unet.UNetGenerator(out_channels=3, num_downs=5, features=8,
                               dropout=0.0)
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  elif network == 'patchgan':
    model = patchgan.PatchGAN(features=8)
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 6))
  else:
    config = wgan_gp.get_config()
    config.model.d_features = 32
    from jaxgan.families import gan as gan_family  # pylint: disable=g-import-not-at-top
    _, model = gan_family.create_models(config, (32, 32, 3))
    assert model.double_backward
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  field = 'impl' if hasattr(model, 'impl') else 'conv_impl'
  variables = model.clone(**{field: 'conv'}).init(jax.random.key(1), x)

  def results(module):
    def loss(params, x):
      y, _ = module.apply({**variables, 'params': params}, x,
                          mutable=['batch_stats'])
      return jnp.sum(jnp.sin(y))
    gp = lambda p: jnp.sum(jax.grad(loss, argnums=1)(p, x) ** 2)  # pylint: disable=unnecessary-lambda-assignment
    return (loss(variables['params'], x),
            jax.grad(loss)(variables['params'], x),
            jax.grad(gp)(variables['params']))

  want = jax.jit(lambda: results(model.clone(**{field: 'conv'})))()
  for pick in range(4):
    _force(monkeypatch, pick)
    got = jax.jit(lambda: results(model.clone(**{field: 'tuned'})))()
    jax.tree.map(lambda g, v, pick=pick: np.testing.assert_allclose(
        g, v, rtol=2e-4, atol=1e-5 * float(jnp.abs(v).max()) + 1e-7,
        err_msg=f'pick {pick}'), got, want)


# --- Tuning in the trainer: cache, pinning, budget. ---


def _tiny_dcgan(conv_impl='auto'):
  config = dcgan.get_config()
  config.train.batch_size = 8
  config.model.g_features = 8
  config.model.d_features = 8
  config.model.latent_dim = 16
  config.model.conv_impl = conv_impl
  return config


def _first_step(config, shape=(16, 16, 1)):
  trainer = train.Trainer(config, shape, devices=jax.devices()[:1])
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  batch = {'image': rng.integers(0, 256, (config.train.n_critic,
                                          config.train.batch_size) + shape,
                                 np.uint8)}
  state, metrics = trainer.step(state, batch)
  jax.block_until_ready(metrics)
  return trainer.conv_forms, state


def test_second_start_takes_the_cache_without_timing(tuning, monkeypatch):
  first, state = _first_step(_tiny_dcgan())
  assert not first.cached and not first.ruled
  assert sorted(first.timed) == sorted(first.sites)
  assert {s.kind for s in first.sites.values()} == {'up', 'down'}
  [path] = list(tuning.iterdir())
  assert path.name == os.path.basename(conv_forms.cache_path())
  saved = json.loads(path.read_text())
  assert saved['machine'] == conv_forms.machine()
  for key in first.timed:
    assert saved['sites'][key]['form'] == first.forms[key]
    assert set(saved['sites'][key]['ms']) <= set(
        conv_forms.candidates(first.sites[key]))

  conv_forms.reset()  # A new process.

  def no_timing(site, looped=False):
    raise AssertionError(f'{site.key} timed again')

  monkeypatch.setattr(conv_forms, 'measure', no_timing)
  second, state2 = _first_step(_tiny_dcgan())
  assert sorted(second.cached) == sorted(first.timed)
  assert not second.timed and second.forms == first.forms
  # The same program: the same first step, bit for bit.
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.g_params),
               jax.device_get(state2.g_params))


@pytest.mark.parametrize('damage', ['corrupt', 'foreign', 'unknown_form'])
def test_damaged_or_foreign_cache_is_ignored_with_a_warning(
    tuning, fake_timing, damage, caplog):
  path = pathlib.Path(conv_forms.cache_path())
  path.parent.mkdir(parents=True)
  site = conv_forms.Site('down', (8, 16, 16, 1), 8, 'float32', 1)
  entry = {'form': 'im2col', 'ms': {}}
  content = {'version': conv_forms.CACHE_VERSION,
             'machine': conv_forms.machine(), 'sites': {site.key: entry}}
  if damage == 'corrupt':
    path.write_text('{"version": 1, "sites": {"down:')
  elif damage == 'foreign':
    other = dict(content['machine'], cpu={'model_name': 'Another CPU'})
    path.write_text(json.dumps(dict(content, machine=other)))
  else:
    entry['form'] = 'winograd'
    path.write_text(json.dumps(content))
  with caplog.at_level(logging.WARNING):
    report, _ = _first_step(_tiny_dcgan())
  words = 'another machine' if damage == 'foreign' else 'corrupt'
  assert any(words in r.getMessage() and str(path) in r.getMessage()
             for r in caplog.records), caplog.text
  assert report.timed and not report.cached
  saved = json.loads(path.read_text())  # Rewritten, whole, for this machine.
  assert saved['machine'] == conv_forms.machine()
  assert set(saved['sites']) == set(report.timed)


@pytest.mark.parametrize('conv_impl', ['matmul', 'conv'])
def test_pinned_conv_impl_bypasses_tuning(tuning, conv_impl, monkeypatch):
  monkeypatch.setattr(conv_forms, 'measure', lambda site, looped=False: 1 / 0)
  report, _ = _first_step(_tiny_dcgan(conv_impl))
  assert not report.sites and not tuning.exists()


def test_budget_spent_leaves_the_rules(tuning, monkeypatch):
  monkeypatch.setenv(conv_forms.BUDGET_ENV, '1e-9')
  report, _ = _first_step(_tiny_dcgan())
  assert not report.timed and sorted(report.ruled) == sorted(report.sites)
  assert report.forms == {k: conv_forms.rule(s)
                          for k, s in report.sites.items()}


def test_zero_budget_is_the_rules_and_reads_no_cache(tuning, monkeypatch):
  site = conv_forms.Site('down', (2, 32, 32, 64), 32, 'float32', 1)
  assert conv_forms.rule(site) == 's2d'
  conv_forms._write_cache(conv_forms.cache_path(),  # pylint: disable=protected-access
                          {site.key: {'form': 'im2col', 'ms': {}}})
  assert conv_forms.choose(site) == 'im2col'
  conv_forms.reset()
  monkeypatch.setenv(conv_forms.BUDGET_ENV, '0')
  assert conv_forms.choose(site) == 's2d'
  assert layers.resolve_conv_impl('auto') == 'tuned'
  assert layers.resolve_conv_impl('auto', measured=False) == 'matmul'


def test_measure_keeps_the_rule_within_the_margin(monkeypatch):
  site = conv_forms.Site('up', (2, 4, 4, 32), 32, 'float32', 1)
  assert conv_forms.rule(site) == 'phases'
  fake = {'phases': 1.03, 'col2im': 1.0}
  monkeypatch.setattr(conv_forms, '_benchmark',
                      lambda form, site, looped: (form, None))
  names = {conv_forms.build(site, n): n for n in fake}
  monkeypatch.setattr(conv_forms, '_seconds',
                      lambda fn, args: fake[names[fn]])
  assert conv_forms.measure(site)['alone'] == 'phases'  # 3% behind: kept
  fake['phases'] = 1.2
  result = conv_forms.measure(site)
  assert result['alone'] == 'col2im'
  assert result['ms'] == {'phases': 1200.0, 'col2im': 1000.0}


def test_a_form_that_wins_alone_is_kept_only_if_the_iteration_gains(
    tuning, monkeypatch):
  # Every site's other form wins alone; in the whole iteration the first
  # trial gains 50% twice, the second 50% once only, the others 1% (under
  # STEP_MARGIN).
  def alone(site, looped=False):
    other = [n for n in conv_forms.candidates(site)
             if n != conv_forms.rule(site)][0]
    return {'alone': other, 'ms': {conv_forms.rule(site): 2.0, other: 1.0}}

  speeds = iter([(1.0, 0.5), (1.0, 0.5), (0.5, 0.2), (0.5, 0.5)] +
                [(0.5, 0.495)] * 100)
  monkeypatch.setattr(conv_forms, 'measure', alone)
  monkeypatch.setattr(conv_forms, '_race', lambda a, b, args: next(speeds))
  report, _ = _first_step(_tiny_dcgan())
  # One trial per site, then the rejected ones together (1% again).
  assert len(report.trials) == len(report.sites) + 1 >= 5
  assert [t[-1] for t in report.trials] == [True] + [False] * (
      len(report.trials) - 1)
  assert report.trials[-1][1] == 'together'
  kept = report.trials[0][0]
  for key, site in report.sites.items():
    want = alone(site)['alone'] if key == kept else conv_forms.rule(site)
    assert report.forms[key] == want
  saved = json.loads(pathlib.Path(conv_forms.cache_path()).read_text())
  assert {k: e['form'] for k, e in saved['sites'].items()} == report.forms


def test_forms_rejected_one_at_a_time_are_kept_if_they_gain_together(
    tuning, monkeypatch):
  # Every site's other form wins alone; in the whole iteration each gains
  # 2% alone (under STEP_MARGIN), all together 20%.
  sites = {}

  def alone(site, looped=False):
    sites[site.key] = site
    other = [n for n in conv_forms.candidates(site)
             if n != conv_forms.rule(site)][0]
    return {'alone': other, 'ms': {conv_forms.rule(site): 2.0, other: 1.0}}

  races = []

  def race(current, candidate, args):
    table = conv_forms._TABLE  # pylint: disable=protected-access
    together = all(table[k] != conv_forms.rule(s) for k, s in sites.items())
    races.append(together)
    return (1.0, 0.8) if together else (1.0, 0.98)

  monkeypatch.setattr(conv_forms, 'measure', alone)
  monkeypatch.setattr(conv_forms, '_race', race)
  report, _ = _first_step(_tiny_dcgan())
  assert len(sites) == len(report.sites) >= 4
  assert len(report.trials) == len(report.sites) + 1
  assert [t[-1] for t in report.trials] == [False] * len(report.sites) + [True]
  assert races[-2:] == [True, True]  # Kept on two races in a row.
  assert report.forms == {k: alone(s)['alone'] for k, s in sites.items()}
  saved = json.loads(pathlib.Path(conv_forms.cache_path()).read_text())
  assert {k: e['form'] for k, e in saved['sites'].items()} == report.forms


# --- Several processes: process 0 decides. ---


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_take_process_0s_forms(tmp_path):
  base = {**os.environ, 'JAX_PLATFORMS': 'cpu',
          'XLA_FLAGS': '--xla_force_host_platform_device_count=2',
          conv_forms.BUDGET_ENV: '60'}
  # Process 0's cache holds forms the rules would not choose; process 1 has
  # none of its own and would measure or take the rules.
  seeded = subprocess.run(
      [sys.executable, str(WORKER), 'seed'], cwd=ROOT, capture_output=True,
      text=True, env={**base, 'JAXGAN_CACHE': str(tmp_path / 'cache0')},
      timeout=600, check=False)
  assert seeded.returncode == 0, seeded.stderr[-3000:]
  seeded = json.loads(seeded.stdout.splitlines()[-1])
  assert any(form != seeded['rules'][key]
             for key, form in seeded['forms'].items())
  port = _free_port()
  processes = [subprocess.Popen(
      [sys.executable, str(WORKER), 'train'], cwd=ROOT, text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      env={**base, 'JAXGAN_CACHE': str(tmp_path / f'cache{i}'),
           'JAX_COORDINATOR_ADDRESS': f'127.0.0.1:{port}',
           'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': str(i)})
               for i in range(2)]
  results = []
  for process in processes:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-4000:]
    results.append(json.loads(stdout.splitlines()[-1]))
  assert results[0]['process'] == 0 and results[1]['process'] == 1
  for result in results:
    assert result['forms'] == seeded['forms']
  assert sorted(results[0]['cached']) == sorted(seeded['forms'])
  assert not results[1]['cached'] and not results[1]['timed']
  assert not (tmp_path / 'cache1').exists()  # Only process 0 writes.


def test_a_site_timed_before_a_form_was_added_is_timed_again(tuning,
                                                             fake_timing):
  first, _ = _first_step(_tiny_dcgan())
  path = pathlib.Path(conv_forms.cache_path())
  saved = json.loads(path.read_text())
  old = [k for k in first.timed if len(saved['sites'][k]['ms']) >= 3][0]
  entry = saved['sites'][old]
  dropped = [n for n in entry['ms']
             if n not in (entry['form'], entry['alone'])][0]
  del entry['ms'][dropped]  # As if `dropped` did not exist then.
  path.write_text(json.dumps(saved))
  conv_forms.reset()
  second, _ = _first_step(_tiny_dcgan())
  assert second.timed == [old]
  assert sorted(second.cached) == sorted(k for k in first.timed if k != old)


def test_looped_and_unrolled_iterations_are_timed_and_cached_apart(
    tuning, fake_timing):
  # steps_per_dispatch > 1 runs the iteration in a lax.scan, where XLA:CPU
  # runs some convolution gradients 20-40x slower: its sites are timed in a
  # scan and cached under their own keys.
  site = conv_forms.Site('patch', (2, 8, 8, 4), 3, 'float32', 1, 3, 1)
  fns = {}
  for looped in (False, True):
    fn, args = conv_forms._benchmark(conv_forms.build(site, 'xla'), site,
                                     looped)
    fns[looped] = jax.device_get(fn(*args))
  jax.tree.map(np.testing.assert_allclose, fns[False], fns[True])
  first, _ = _first_step(_tiny_dcgan())
  conv_forms.reset()
  config, shape = _tiny_dcgan(), (16, 16, 1)
  trainer = train.Trainer(config, shape, devices=jax.devices()[:1])
  rng = np.random.default_rng(0)
  batches = [{'image': rng.integers(0, 256, (config.train.n_critic,
                                             config.train.batch_size) + shape,
                                    np.uint8)} for _ in range(2)]
  jax.block_until_ready(trainer.steps(trainer.init_state(), batches))
  assert sorted(trainer.conv_forms.timed) == sorted(first.timed)
  saved = json.loads(pathlib.Path(conv_forms.cache_path()).read_text())
  assert set(saved['sites']) == set(first.timed) | {
      k + ':loop' for k in first.timed}
