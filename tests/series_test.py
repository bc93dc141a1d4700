"""TadGAN's pieces: the LSTM against NumPy, the penalties, Orion's scoring and
anomaly search against plain loops and hand-made cases, NAB reading and
its bad input, and a short run that finds a labelled anomaly."""

import csv
import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgan import losses
from jaxgan import train
from jaxgan.families.series import data as sd
from jaxgan.families.series import detect
from jaxgan.families.series import evaluation
from jaxgan.families.series import scoring
from jaxgan.networks import tadgan as nets

SIGNAL = 'artificialWithAnomaly/art_daily_jumpsup.csv'
ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- Networks ---------------------------------------------------------------


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _numpy_lstm(p, x, in_masks, rec_masks, reverse=False):
  """Keras's LSTM (implementation 1, what recurrent_dropout selects) in
  NumPy: gate n of i, f, g (Keras's c), o from the input times its own
  mask in_masks[n] and the previous output times rec_masks[n]; Flax's
  per-gate kernels."""
  b, t, _ = x.shape
  units = p['hi']['kernel'].shape[0]
  c, h = np.zeros((b, units)), np.zeros((b, units))
  out = np.zeros((b, t, units))
  steps = range(t - 1, -1, -1) if reverse else range(t)
  for s in steps:
    gate = {g: (x[:, s] * in_masks[n]) @ p[f'i{g}']['kernel'] +
            (h * rec_masks[n]) @ p[f'h{g}']['kernel'] + p[f'h{g}']['bias']
            for n, g in enumerate('ifgo')}
    c = _sigmoid(gate['f']) * c + _sigmoid(gate['i']) * np.tanh(gate['g'])
    h = _sigmoid(gate['o']) * np.tanh(c)
    out[:, s] = h
  return out


def test_bilstm_equals_a_numpy_reference_with_keras_per_gate_masks():
  lstm = nets.BiLSTM(7, dropout=0.3, recurrent_dropout=0.4)
  x = jax.random.normal(jax.random.key(0), (3, 9, 4))
  params = nets.keras_forget_bias(lstm.init(jax.random.key(1), x)['params'])
  cells = {d: {k: jax.tree.map(np.asarray, v)
               for k, v in params['step'][d].items()}
           for d in ('forward', 'backward')}
  np.testing.assert_array_equal(cells['forward']['hf']['bias'], 1.0)
  np.testing.assert_array_equal(cells['backward']['hi']['bias'], 0.0)
  y = lstm.apply({'params': params}, x, train=True,
                 rngs={'dropout': jax.random.key(2)})
  # The masks it drew: the module's first four 'dropout' draws (input and
  # recurrent, forward then backward), each one mask per gate.
  keys = lstm.apply({'params': params}, x,
                    rngs={'dropout': jax.random.key(2)},
                    method=lambda m, _: [m.make_rng('dropout')
                                         for _ in range(4)])
  masks = [np.asarray(jax.random.bernoulli(k, 1 - rate, shape)) / (1 - rate)
           for k, rate, shape in zip(keys, (0.3, 0.4) * 2,
                                     ((4, 3, 4), (4, 3, 7)) * 2)]
  # The gates' masks differ (Keras's implementation 1), so a unit dropped
  # from one gate still reaches the others.
  assert not np.array_equal(masks[0][0], masks[0][1])
  x64 = np.asarray(x, np.float64)
  want = np.concatenate(
      [_numpy_lstm(cells['forward'], x64, masks[0], masks[1]),
       _numpy_lstm(cells['backward'], x64, masks[2], masks[3], reverse=True)],
      -1)
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6)
  # Inference: no masks (the fused products).
  ones = np.ones((4, 1, 1))
  want = np.concatenate(
      [_numpy_lstm(cells['forward'], x64, ones, ones),
       _numpy_lstm(cells['backward'], x64, ones, ones, reverse=True)], -1)
  np.testing.assert_allclose(np.asarray(lstm.apply({'params': params}, x)),
                             want, rtol=1e-5, atol=1e-6)


def test_networks_have_orions_shapes_and_parameter_counts():
  x, z = jnp.zeros((2, 100, 1)), jnp.zeros((2, 20, 1))
  nets_ = {'encoder': (nets.Encoder(), x), 'generator': (nets.Generator(), z),
           'critic_x': (nets.CriticX(), x), 'critic_z': (nets.CriticZ(), z)}
  shapes, counts = {}, {}
  for name, (net, inp) in nets_.items():
    params = net.init(jax.random.key(0), inp)['params']
    shapes[name] = net.apply({'params': params}, inp).shape
    counts[name] = sum(p.size for p in jax.tree.leaves(params))
  assert shapes == {'encoder': (2, 20, 1), 'generator': (2, 100, 1),
                    'critic_x': (2, 1), 'critic_z': (2, 1)}
  # Keras's counts for these layers (LSTM: 4 (in + units + 1) units per
  # direction; Keras keeps one bias per gate, as Flax's 'h' denses).
  lstm = lambda i, u: 2 * 4 * (i + u + 1) * u
  assert counts['encoder'] == lstm(1, 100) + 100 * 200 * 20 + 20
  assert counts['generator'] == (20 * 50 + 50 + lstm(1, 64) + lstm(128, 64)
                                 + 128 + 1)
  assert counts['critic_x'] == (5 * 64 + 64 + 3 * (5 * 64 * 64 + 64) +
                                84 * 64 + 1)
  assert counts['critic_z'] == 20 * 20 + 20 + 20 * 20 + 20 + 21
  # count_params() of Orion's Keras models (orion-ml 0.7.1's TadGAN built
  # for windows of 100 in its venv, 2026-12-06).
  assert counts == {'encoder': 481620, 'generator': 133787,
                    'critic_x': 67393, 'critic_z': 861}


@pytest.mark.parametrize('critic', ['critic_x', 'critic_z'])
def test_gradient_penalty_serves_both_critics(critic):
  net = nets.CriticX() if critic == 'critic_x' else nets.CriticZ()
  shape = (4, 100, 1) if critic == 'critic_x' else (4, 20, 1)
  real = jax.random.normal(jax.random.key(0), shape)
  fake = jax.random.normal(jax.random.key(1), shape)
  eps = jax.random.uniform(jax.random.key(2), (4,))
  params = net.init(jax.random.key(3), real)['params']
  fn = lambda v: net.apply({'params': params}, v)[:, 0]
  got = losses.gradient_penalty(fn, real, fake, eps)
  # One example at a time: the gradient of its score at its interpolate.
  want = []
  for i in range(4):
    point = eps[i] * real[i:i + 1] + (1 - eps[i]) * fake[i:i + 1]
    g = jax.grad(lambda v: fn(v)[0])(point)
    want.append((float(jnp.sqrt(jnp.sum(g ** 2))) - 1) ** 2)
  np.testing.assert_allclose(float(got), np.mean(want), rtol=1e-5)


# --- Orion's scoring ---------------------------------------------------------


def _plain_dtw(x, y):
  n = len(x)
  acc = np.full((n + 1, n + 1), np.inf)
  acc[0, 0] = 0
  for i in range(1, n + 1):
    for j in range(1, n + 1):
      acc[i, j] = (x[i - 1] - y[j - 1]) ** 2 + min(acc[i - 1, j - 1],
                                                    acc[i - 1, j],
                                                    acc[i, j - 1])
  return math.sqrt(acc[n, n])


def test_dtw_equals_a_plain_dynamic_program():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(6, 11)), rng.normal(size=(6, 11))
  np.testing.assert_allclose(detect.dtw(x, y),
                             [_plain_dtw(a, b) for a, b in zip(x, y)],
                             rtol=1e-12)
  assert detect.dtw(x[:1], x[:1])[0] == 0
  # Warping: a series against itself shifted by one costs only the ends.
  s = np.sin(np.linspace(0, 3, 12))
  assert detect.dtw(s[None, 1:], s[None, :-1])[0] < np.sqrt(
      np.sum((s[1:] - s[:-1]) ** 2))


def _plain_rolling(x, window, min_periods, fn=np.mean):
  """pandas' centred rolling window, written out."""
  offset = (window - 1) // 2
  out = []
  for i in range(len(x)):
    part = x[max(0, i + offset + 1 - window):min(len(x), i + offset + 1)]
    part = part[~np.isnan(part)]
    out.append(fn(part) if len(part) >= max(min_periods, 1) else np.nan)
  return np.array(out)


@pytest.mark.parametrize('window', [1, 4, 5, 10])
def test_rolling_mean_and_area_equal_pandas_windows(window):
  x = np.random.default_rng(1).normal(size=23)
  np.testing.assert_allclose(detect.rolling_mean(x, window, window // 2),
                             _plain_rolling(x, window, window // 2))
  with_nan = x.copy()
  with_nan[[3, 4, 5]] = np.nan
  np.testing.assert_allclose(detect.rolling_mean(with_nan, window, 2),
                             _plain_rolling(with_nan, window, 2))
  y = np.random.default_rng(2).normal(size=23)
  trapz = lambda v: np.trapezoid(v) if len(v) > 1 else 0.0
  np.testing.assert_allclose(
      detect.area_error(x, y, window),
      np.abs(_plain_rolling(x, window, window // 2, trapz) -
             _plain_rolling(y, window, window // 2, trapz)), atol=1e-12)


def test_unrolled_predictions_and_critic_densest_values_follow_orion():
  rng = np.random.default_rng(3)
  n, w = 30, 6
  windows_hat = rng.normal(size=(n, w))
  critic = rng.normal(size=n)
  critic[10:14] = critic[10]  # Equal scores somewhere: the median fallback.
  medians, densest = [], []
  for i in range(n + w - 1):
    ks = [i - j for j in range(max(0, i - n + 1), min(i + 1, w))]
    medians.append(np.median([windows_hat[k, i - k] for k in ks]))
    values = np.array([critic[k] for k in ks])
    if len(values) > 1 and np.ptp(values) > 0:
      densest.append(values[np.argmax(stats.gaussian_kde(values)(values))])
    else:
      densest.append(np.median(values))
  np.testing.assert_allclose(detect.predictions(windows_hat), medians)
  np.testing.assert_allclose(detect.critic_per_point(critic, w), densest)


def test_dtw_error_keeps_orions_offset_and_zero_ends():
  y = np.zeros(40)
  y_hat = np.zeros(40)
  y_hat[20] = 1.0
  errors = detect.dtw_error(y, y_hat, 10)
  assert errors[:5].sum() == 0 and errors[-6:].sum() == 0
  # The windows of 11 centred on points 15..25 see point 20, and Orion
  # writes each 5 after its centre: positions 20..30.
  np.testing.assert_array_equal(np.flatnonzero(errors), np.arange(20, 31))


def test_find_anomalies_finds_one_spike_and_pads_it():
  errors = np.ones(300) + 0.01 * np.sin(np.arange(300))
  errors[150:153] = 10.0
  index = 1000 + 600 * np.arange(300)
  found = detect.find_anomalies(errors, index)
  assert found.shape == (1, 3)
  assert found[0, 0] == index[150 - 50] and found[0, 1] == index[152 + 50]
  assert found[0, 2] > 0
  # Nothing above 4 std of flat noise: nothing found.
  assert detect.find_anomalies(np.ones(300), index).shape == (0, 3)


def test_prune_keeps_only_clearly_separated_sequences():
  errors = np.array([0, 5.0, 0, 0, 4.9, 0, 0, 2.0, 0])
  sequences = np.array([[1, 1], [4, 4], [7, 7]])
  # 5.0 -> 4.9 is 2% (< 13%); 4.9 -> 2.0 is 59%; 2.0 -> max_below 1.0 50%.
  kept = detect.prune(sequences, errors, 1.0, 0.13)
  assert [r[:2] for r in kept] == [(1, 1), (4, 4), (7, 7)]
  kept = detect.prune(sequences, errors, 1.9, 0.13)  # 2.0 -> 1.9: 5%.
  assert [r[:2] for r in kept] == [(1, 1), (4, 4)]
  assert detect.prune(sequences[:1], errors, 4.8, 0.13) == []


def test_merge_joins_touching_sequences_with_length_weighted_scores():
  merged = detect.merge([(10, 20, 1.0), (0, 5, 3.0), (21, 41, 4.0),
                         (50, 60, 2.0)])
  assert merged[0] == (0, 5, 3.0)
  assert merged[1][:2] == (10, 41)
  np.testing.assert_allclose(merged[1][2], (10 * 1.0 + 20 * 4.0) / 30)
  assert merged[2] == (50, 60, 2.0)


ONE = [(100, 200)]
TWO = [(100, 200), (400, 420)]


@pytest.mark.parametrize('expected,observed,want', [
    (ONE, [(100, 200)], (1, 0, 0)),  # exact hit
    (ONE, [(150, 300)], (1, 0, 0)),  # partial overlap
    (ONE, [(200, 300)], (1, 0, 0)),  # sharing the end point overlaps
    (ONE, [(201, 300)], (0, 1, 1)),  # touching the end, not overlapping
    (ONE, [(0, 99)], (0, 1, 1)),  # touching the start
    (ONE, [], (0, 0, 1)),  # no detections
    (TWO, [(50, 450)], (2, 0, 0)),  # one detection spanning both windows
    (TWO, [(120, 130), (140, 150), (600, 700)], (1, 1, 1)),  # two on one
])
def test_overlap_counts_are_orions(expected, observed, want):
  got = scoring.overlap_counts(expected, observed)
  assert (got['tp'], got['fp'], got['fn']) == want


def test_signal_without_anomalies_and_group_sums():
  # A clean signal with one detection: a false positive, no F1 of its own.
  clean = scoring.overlap_counts([], [(5, 9)])
  assert clean == {'tp': 0, 'fp': 1, 'fn': 0}
  assert math.isnan(scoring.f1_of(clean)['recall'])
  rows = [{'signal': 'g/a.csv', 'tp': 1, 'fp': 0, 'fn': 1},
          {'signal': 'g/b.csv', **clean},
          {'signal': 'h/c.csv', 'tp': 2, 'fp': 2, 'fn': 0}]
  table = scoring.summarize(rows)
  assert table['g']['tp'] == 1 and table['g']['fp'] == 1
  np.testing.assert_allclose(table['g']['f1'], 0.5)
  np.testing.assert_allclose(table['h']['precision'], 0.5)
  np.testing.assert_allclose(table['h']['f1'], 2 * 0.5 / 1.5)


# --- Data ---------------------------------------------------------------------


def test_nab_signal_is_read_aggregated_and_windowed_as_orion(shared_data):
  nab = shared_data / 'nab'
  signal = sd.read_csv(nab / 'data' / SIGNAL, name=SIGNAL)
  assert len(signal.timestamps) == 4032 and not signal.repairs
  prepared = sd.prepare(signal, 600, 100)
  # ORION.md: 2,016 points of 600 s, 1,916 windows.
  assert len(prepared.values) == 2016 and prepared.windows.shape == (1916,
                                                                     100)
  assert prepared.values.min() == -1 and prepared.values.max() == 1
  np.testing.assert_array_equal(prepared.windows[3],
                                prepared.values[3:103].astype(np.float32))
  first = signal.values[:2].mean()  # Two 300 s rows per 600 s point.
  lo, hi = signal.values.min(), signal.values.max()
  # Means of pairs span a narrower range than the rows: scale by the means'.
  raw = sd.aggregate(signal.timestamps, signal.values, 600)[1]
  np.testing.assert_allclose(raw[0], first)
  assert raw.min() >= lo and raw.max() <= hi
  labels = sd.read_labels(nab / 'labels' / 'combined_windows.json', [SIGNAL])
  assert labels[SIGNAL] == [(sd.parse_time('2014-04-10 16:15:00', ''),
                             sd.parse_time('2014-04-12 01:45:00', ''))]


def _write(path, rows, header=('timestamp', 'value')):
  with open(path, 'w', newline='') as f:
    out = csv.writer(f)
    out.writerow(header)
    out.writerows(rows)
  return path


def test_bad_series_are_errors_or_stated_repairs(tmp_path):
  with pytest.raises(sd.DataError, match="no 'value' column"):
    sd.read_csv(_write(tmp_path / 'a.csv', [(0, 1)], ('timestamp', 'v')))
  with pytest.raises(sd.DataError, match='not a number'):
    sd.read_csv(_write(tmp_path / 'b.csv', [(0, 'x')]))
  with pytest.raises(sd.DataError, match='infinite'):
    sd.read_csv(_write(tmp_path / 'e.csv', [(0, 'inf')]))
  with pytest.raises(sd.DataError, match='has 1 fields'):
    sd.read_csv(_write(tmp_path / 'f.csv', [(0,)]))
  with pytest.raises(sd.DataError, match='neither an ISO'):
    sd.read_csv(_write(tmp_path / 'c.csv', [('yesterday', 1)]))
  with pytest.raises(FileNotFoundError, match='does not exist'):
    sd.read_csv(tmp_path / 'missing.csv')
  # Out of order and duplicated rows: sorted, averaged, and said so.
  rows = [(600, 3.0), (0, 1.0), (0, 3.0), (1200, 5.0), (3000, 7.0)]
  signal = sd.read_csv(_write(tmp_path / 'd.csv', rows))
  assert np.all(np.diff(signal.timestamps) >= 0)
  assert any('sorted' in r for r in signal.repairs)
  assert any('duplicated' in r for r in signal.repairs)
  index, values = sd.aggregate(signal.timestamps, signal.values, 600)
  np.testing.assert_array_equal(index, [0, 600, 1200, 1800, 2400, 3000])
  np.testing.assert_array_equal(values[:3], [2.0, 3.0, 5.0])
  assert np.isnan(values[3]) and np.isnan(values[4])  # The gap.
  prepared = sd.prepare(signal, 600, 2)
  assert any('gaps' in r and 'imputed' in r for r in prepared.repairs)
  assert not np.isnan(prepared.values).any()
  with pytest.raises(sd.DataError, match='fewer than one window'):
    sd.prepare(signal, 600, 100)


def test_bad_labels_are_clear(tmp_path):
  labels = tmp_path / 'labels.json'
  labels.write_text(json.dumps({'g/a.csv': [['2014-01-01 00:00:00',
                                             '2014-01-02 00:00:00']]}))
  with pytest.raises(sd.DataError, match='no entry'):
    sd.read_labels(labels, ['g/b.csv'])
  got = sd.read_labels(labels, ['g/a.csv'])
  assert got['g/a.csv'] == [(1388534400, 1388620800)]
  rows = _write(tmp_path / 'l.csv', [('x', 0, 5)], ('signal', 'start', 'end'))
  with pytest.raises(sd.DataError, match="signal 'x'"):
    sd.read_labels(rows, ['y'])
  assert sd.read_labels(rows, ['x', 'y']) == {'x': [(0, 5)], 'y': []}


# --- A short run ---------------------------------------------------------------


def test_short_run_finds_the_labelled_jump_and_the_benchmark_resumes(
    tmp_path, shared_data):
  """art_daily_jumpsup's jump, which Orion finds after 2 epochs
  (../shared/bench/ORION.md): 2 epochs here too, through the benchmark's
  per-signal run; anomalies.csv and scores.json written, and a second call
  reads them instead of training again."""
  from jaxgan.benchmarks import nab  # pylint: disable=g-import-not-at-top
  workdir = nab.run_dir(tmp_path, SIGNAL, 0)
  # A signal stopped before its first checkpoint: started again, its
  # records moved aside.
  workdir.mkdir(parents=True)
  (workdir / 'metrics.jsonl').write_text('{"step": 1}\n')
  row = nab.run_signal(SIGNAL, 0, 2, str(shared_data / 'nab'), workdir)
  assert (workdir / 'restarted-1' / 'metrics.jsonl').exists()
  assert (row['tp'], row['fn']) == (1, 0), row
  found = evaluation.read_anomalies(workdir / 'anomalies.csv')
  assert len(found) == row['detected'] == row['tp'] + row['fp']
  labels = sd.read_labels(shared_data / 'nab' / 'labels' /
                          'combined_windows.json', [SIGNAL])[SIGNAL]
  assert scoring.overlap_counts(labels, [(a, b) for a, b, _ in found]) == {
      k: row[k] for k in ('tp', 'fp', 'fn')}
  metrics = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
  assert [m['eval/f1'] for m in metrics if 'eval/f1' in m][-1] > 0
  (workdir / 'checkpoints').rename(workdir / 'gone')  # No retraining:
  assert nab.run_signal(SIGNAL, 0, 2, str(shared_data / 'nab'),
                        workdir) == row
  table = nab.table([row, {**row, 'signal': 'realTweets/x.csv', 'tp': 0,
                           'fp': 2, 'fn': 1}])
  assert table['artificialWithAnomaly']['orion_tadgan_f1'] == 0.5
  assert table['realTweets']['f1'] == 0 or math.isnan(
      table['realTweets']['f1'])
  assert 'mean of groups' in nab.format_table(table)


def test_a_stopped_signal_exits_cleanly_without_a_row(tmp_path,
                                                   monkeypatch):
  """A benchmark stopped by SIGTERM mid-signal: train_and_evaluate returns
  after its checkpoint without detecting; run_signal exits 0 and writes no
  scores.json (so the next run resumes the signal), instead of failing on
  the missing anomalies.csv."""
  from jaxgan.benchmarks import nab  # pylint: disable=g-import-not-at-top
  workdir = nab.run_dir(tmp_path, SIGNAL, 0)
  calls = []
  monkeypatch.setattr(nab.train, 'train_and_evaluate',
                      lambda *args, **kwargs: calls.append(args))
  with pytest.raises(SystemExit) as stopped:
    nab.run_signal(SIGNAL, 0, 2, '../shared/data/nab', workdir)
  assert stopped.value.code == 0 and len(calls) == 1
  assert not (workdir / 'scores.json').exists()


def test_notrain_prints_the_partial_table_and_names_the_rest(
    tmp_path, shared_data):
  """`--notrain`: the table of the signals with scores.json, the others
  named, nothing trained, no table.json (it is the whole benchmark's); with
  --orion_results, the per-signal comparison too."""
  from jaxgan.benchmarks import nab  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'out'
  row = {'signal': SIGNAL, 'seed': 0, 'epochs': 35, 'seconds': 1.0,
         'detected': 1, 'tp': 1, 'fp': 0, 'fn': 0}
  nab.run_dir(out, SIGNAL, 0).mkdir(parents=True)
  (nab.run_dir(out, SIGNAL, 0) / 'scores.json').write_text(json.dumps(row))
  release = tmp_path / '0.7.1.csv'
  release.write_text('dataset,pipeline,signal,iteration,tp,fp,fn\n'
                     'artificialWithAnomaly,tadgan,art_daily_jumpsup,0,'
                     '1,1,0\n')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.benchmarks.nab', '--notrain',
       '--groups=artificialWithAnomaly', f'--out={out}',
       f'--nab_dir={shared_data / "nab"}', f'--orion_results={release}'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
  printed = result.stdout
  assert 'artificialWithAnomaly      1   1.0   0.0   0.0' in printed
  assert 'Not done yet (5;' in printed
  assert 'art_daily_nojump.csv seed 0' in printed
  assert ('0 of 1 runs (signal and seed) gave counts some Orion release'
          in printed)
  assert not (out / 'table.json').exists()
  assert not (nab.run_dir(out, 'artificialWithAnomaly/art_daily_nojump.csv',
                          0)).exists()


def test_processes_share_out_the_signals_one_core_each(tmp_path,
                                                       shared_data):
  """--processes: the signals split by length into lists of about equal
  work, one process per list pinned to its own CPU; a failed process named
  by its log."""
  from jaxgan.benchmarks import nab  # pylint: disable=g-import-not-at-top
  assert nab.split_signals({'a': 5, 'b': 4, 'c': 3, 'd': 3, 'e': 1}, 2) == [
      ['a', 'd'], ['b', 'c', 'e']]  # 8 and 8.
  assert nab.split_signals({'a': 1}, 3) == [['a']]
  # Lengths in the group's intervals: realTweets' are four times the
  # artificial signals' (15,902 rows of 5 min at 10 min; 4,032 of 5 min).
  tweets = nab.signal_intervals(shared_data / 'nab',
                                'realTweets/Twitter_volume_AAPL.csv')
  jump = nab.signal_intervals(shared_data / 'nab',
                              'artificialWithAnomaly/art_daily_jumpsup.csv')
  assert jump == 2016 and 3.5 < tweets / jump < 4.5
  # Each process writes the CPUs it may run on.
  script = ('import os, sys; open(sys.argv[1], "w").write(",".join(map(str, '
            'sorted(os.sched_getaffinity(0)))))')
  command = lambda part: [sys.executable, '-c', script,  # pylint: disable=g-long-lambda
                          str(tmp_path / f'{part[0]}.cpus')]
  nab.run_processes([['a', 'd'], ['b', 'c']], tmp_path, command)
  cpus = sorted(os.sched_getaffinity(0))
  assert (tmp_path / 'a.cpus').read_text() == str(cpus[0])
  assert (tmp_path / 'b.cpus').read_text() == str(cpus[1 % len(cpus)])
  assert (tmp_path / 'process-1.log').exists()
  fail = lambda part: [sys.executable, '-c',  # pylint: disable=g-long-lambda
                       f'raise SystemExit({int(part == ["x"])})']
  with pytest.raises(RuntimeError, match='1 of 2 .*process-0.log'):
    nab.run_processes([['x'], ['y']], tmp_path, fail)


def test_orion_release_results_are_summed_per_group_as_ours(tmp_path):
  """Orion's per-signal results CSV (its benchmark/results/<version>.csv
  layout): only the TadGAN rows of NAB groups count, summed per group by the
  same code as ours; a file without the count columns is refused."""
  from jaxgan.benchmarks import nab  # pylint: disable=g-import-not-at-top
  head = ('dataset,pipeline,signal,iteration,f1,recall,precision,tn,fp,fn,'
          'tp,status,elapsed,split,run_id')
  body = ['realTraffic,tadgan,speed_6005,0,,0.0,0.0,,2,1,0,OK,1,False,a',
          'realTraffic,tadgan,speed_7578,0,0.8,1,0.67,,2,0,4,OK,1,False,a',
          'realTraffic,arima,speed_7578,0,1,1,1,,0,0,4,OK,1,False,a',
          'MSL,tadgan,C-1,0,0.67,0.5,1.0,,0,1,1,OK,1,False,a',
          'realTweets,tadgan,Twitter_volume_KO,0,,,,,0,2,0,OK,1,False,a']
  path = tmp_path / '0.7.1.csv'
  path.write_text('\n'.join([head, *body]) + '\n')
  rows = nab.orion_rows(path)
  assert sorted(r['signal'] for r in rows) == [
      'realTraffic/speed_6005.csv', 'realTraffic/speed_7578.csv',
      'realTweets/Twitter_volume_KO.csv']
  t = nab.table(rows)
  # realTraffic: tp 4, fp 4, fn 1 -> precision 0.5, recall 0.8.
  assert t['realTraffic']['f1'] == pytest.approx(2 * 0.5 * 0.8 / 1.3)
  assert t['realTweets']['tp'] == [0] and t['realTweets']['fn'] == [2]
  # Seeds: a group's mean and spread are over the seeds done on all its
  # signals; a seed still running is left out, until none is whole.
  again = [{**r, 'seed': 1, 'tp': 0} for r in rows]
  t2 = nab.table(rows + again)
  assert t2['realTraffic']['seeds'] == 2
  assert t2['realTraffic']['tp'] == [4, 0]
  assert t2['realTraffic']['f1_std'] > 0
  assert t2['realTraffic']['f1_by_seed'] == [t['realTraffic']['f1'], 0.0]
  np.testing.assert_allclose(  # Each seed's benchmark: its groups' mean.
      t2['mean']['f1_by_seed'],
      [np.mean([t2[g]['f1_by_seed'][i] for g in ('realTraffic', 'realTweets')])
       for i in (0, 1)])
  assert 'realTraffic            0: 0.615 1: 0.000' in nab.format_table(t2)
  assert '0 of 2 seeds meet it' in nab.format_bar(t2, {})
  t3 = nab.table(rows + again[:1])  # Seed 1 has one of two realTraffic.
  assert t3['realTraffic']['seeds'] == 1
  assert t3['realTraffic']['f1'] == t['realTraffic']['f1']
  assert nab.table(again[:1])['realTraffic']['signals'] == 1  # Running.
  printed = nab.format_orion_releases(t, {'0.7.1': t, '0.7.0': t})
  assert '0.7.0' in printed and 'median' in printed
  # Per signal: ours against the counts of each release.
  other = [{**r, 'fp': 3} if r['signal'].endswith('7578.csv') else r
           for r in rows]
  ours = [{'signal': 'realTraffic/speed_7578.csv', 'seed': 0, 'tp': 4,
           'fp': 2, 'fn': 0},
          {'signal': 'realTraffic/speed_6005.csv', 'seed': 0, 'tp': 1,
           'fp': 0, 'fn': 0},
          {'signal': 'realTraffic/speed_7578.csv', 'seed': 1, 'tp': 4,
           'fp': 3, 'fn': 0}]
  compared = nab.signals_against_releases(
      ours, {'0.7.1': rows, '0.7.0': rows, '0.6.0': other})
  assert [(c['ours'], c['same'], c['releases']) for c in compared] == [
      ([(4, 2, 0), (4, 3, 0)], [2, 1], 3), ([(1, 0, 0)], [0], 3)]
  assert compared[0]['common'] == [((4, 2, 0), 2), ((4, 3, 0), 1)]
  printed = nab.format_signals(compared)
  assert '4/2/0 4/3/0   2,1 of 3' in printed
  assert printed.endswith(
      '2 of 3 runs (signal and seed) gave counts some Orion release gave; '
      '1 its most common counts.')
  # The bar against the published row, and Orion's reruns
  # resampled per signal: identical releases give one outcome every draw;
  # two that differ on one signal give each half the time.
  published = {g: v['tadgan'] for g, v in scoring.ORION_F1.items()}
  assert nab.meets_bar(published, published)
  three_up = dict(published, artificialWithAnomaly=0.6, realTraffic=0.5,
                  realTweets=0.6, realAWSCloudwatch=0.1)
  assert not nab.meets_bar(three_up, published)  # The mean is below.
  two_up = dict(published, artificialWithAnomaly=0.9, realTraffic=0.9,
                realTweets=0.5, realAWSCloudwatch=0.7,
                realAdExchange=0.6)
  assert not nab.meets_bar(two_up, published)  # Mean above, 2 groups.
  assert not nab.meets_bar(dict(published, realTweets=float('nan')),
                           published)
  same = nab.resampled_reruns({'a': rows, 'b': rows}, draws=200)
  np.testing.assert_allclose(same['f1']['realTraffic'],
                             t['realTraffic']['f1'])
  assert np.isnan(same['f1']['realAdExchange']).all()  # No signals.
  assert same['bar'] == 0.0 and same['signals'] == 3
  split = nab.resampled_reruns({'a': rows, 'b': other}, draws=2000)
  # speed_7578 gives 4/2/0 or 4/3/0: realTraffic 4/4/1 or 4/5/1.
  values, counts = np.unique(split['f1']['realTraffic'], return_counts=True)
  np.testing.assert_allclose(values, [8 / 14, 8 / 13])
  assert abs(counts[0] / 2000 - 0.5) < 0.05
  printed = nab.format_bar(t, {'0.7.1': t}, split)
  assert 'does not meet' in printed and '0 of 1' in printed
  bad = tmp_path / 'bad.csv'
  bad.write_text('dataset,pipeline,signal\nrealTraffic,tadgan,x\n')
  with pytest.raises(ValueError, match='not an Orion benchmark results'):
    nab.orion_rows(bad)


def _tiny(tmp_path, steps=None):
  """A 400-point noisy sine with a spike, small networks: a quick run."""
  t = np.arange(400)
  values = np.sin(t / 8) + 0.05 * np.random.default_rng(0).normal(size=400)
  values[300:304] += 3
  csv_path = _write(tmp_path / 'tiny.csv',
                    [(1_600_000_000 + 60 * i, v) for i, v in zip(t, values)])
  config = tadgan_config().get_config()
  config.data.csv = str(csv_path)
  config.data.interval = 60
  config.data.window = 20
  m = config.model
  m.latent_dim, m.encoder_units, m.generator_units = 4, 8, 8
  m.critic_x_features, m.critic_z_features = 8, 4
  config.train.batch_size = 8
  config.train.epochs = 1
  if steps:
    config.train.num_steps = steps
  config.checkpoint_every = 2
  config.log_every = 1
  return config


def tadgan_config():
  from jaxgan import cli  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  return types.SimpleNamespace(get_config=lambda arg='': cli.load_config_file(
      str(ROOT / 'configs' / 'tadgan.py') + (f':{arg}' if arg else '')))


def test_resumes_exactly_and_two_devices_train_as_one(tmp_path):
  """3 steps, a stop and 3 more on one device equal 6 straight on two."""
  config = _tiny(tmp_path, steps=3)
  # Two critic steps a step (Orion's 5 elsewhere): the same plumbing of
  # per-critic batches and keys, under half the program to compile twice.
  config.train.n_critic = 2
  train.train_and_evaluate(config, tmp_path / 'stopped', jax.devices()[:1])
  config.train.num_steps = 6
  resumed = train.train_and_evaluate(config, tmp_path / 'stopped',
                                     jax.devices()[:1])
  straight = train.train_and_evaluate(config, tmp_path / 'straight',
                                      jax.devices()[:2])
  for x, y in zip(jax.tree.leaves(jax.device_get(resumed)),
                  jax.tree.leaves(jax.device_get(straight)), strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(y, np.float64), rtol=1e-4,
                               atol=1e-5)
  nets_ = json.loads((tmp_path / 'straight' / 'networks.json').read_text())
  assert set(nets_) == {'encoder', 'generator', 'critic_x', 'critic_z'}
  rows = list(csv.DictReader(open(tmp_path / 'straight' / 'anomalies.csv')))
  for row in rows:
    assert int(row['start']) <= int(row['end'])
  assert list(tmp_path.glob('straight/samples/*.png'))
  # The window critic's accuracies, once, under the health rules' names.
  logged = [json.loads(line) for line in open(tmp_path / 'straight' /
                                              'metrics.jsonl')]
  logged = [m for m in logged if 'd_real_acc' in m]
  assert logged and all(0 <= m['d_fake_acc'] <= 1 and 'cz_real_acc' in m
                        and 'cx_real_acc' not in m for m in logged)


@pytest.mark.parametrize('field,value,message', [
    ('data.window', 11, 'even'), ('data.window', 16, 'four unpadded'),
    ('eval.comb', 'max', 'comb'), ('eval.rec_error_type', 'l2', 'one of'),
])
def test_bad_settings_are_clear(field, value, message):
  from jaxgan.families import series  # pylint: disable=g-import-not-at-top
  config = tadgan_config().get_config()
  section, key = field.split('.')
  config[section][key] = value
  with pytest.raises(ValueError, match=message):
    series.Series.validate(config)


def test_scores_and_intervals_equal_orions_own_code():
  """tests/fixtures/orion_reference.json holds what orion-ml 0.7.1's
  score_anomalies and find_anomalies returned on these inputs (the script
  beside it, run in Orion's venv)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = ROOT / 'tests' / 'fixtures' / 'orion_reference.py'
  spec = importlib.util.spec_from_file_location('orion_reference', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  reference = json.loads(path.with_suffix('.json').read_text())
  windows, recon, critic, index = module.make_inputs()
  for rec, comb in module.CASES:
    want = reference[f'{rec},{comb}']
    errors, _ = detect.score(windows, recon, critic, rec_error_type=rec,
                             comb=comb)
    np.testing.assert_allclose(errors, np.array(want['errors'], np.float64),
                               rtol=1e-9, atol=1e-12, err_msg=f'{rec},{comb}')
    found = detect.find_anomalies(errors, index)
    np.testing.assert_allclose(found, np.array(want['anomalies']).reshape(
        -1, 3), rtol=1e-9, err_msg=f'{rec},{comb}')
  errors = np.array(reference['dtw,mult']['errors'], np.float64)
  found = detect.find_anomalies(errors, index, fixed=False)
  np.testing.assert_allclose(found, np.array(
      reference['dtw,mult']['dynamic']).reshape(-1, 3), rtol=1e-6)


def test_preprocessing_equals_orions_primitives():
  """Aggregation, imputation, scaling and windows of irregular rows (out of
  order, duplicated, a gap) against mlstars' and sklearn's primitives as
  Orion's pipeline chains them (tests/fixtures/orion_reference.py)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = ROOT / 'tests' / 'fixtures' / 'orion_reference.py'
  spec = importlib.util.spec_from_file_location('orion_reference', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  want = json.loads(path.with_suffix('.json').read_text())['preprocess']
  times, values = module.make_series()
  signal = sd.make_signal('s', times, values)
  prepared = sd.prepare(signal, 3600, 20)
  np.testing.assert_array_equal(prepared.index, want['index'])
  np.testing.assert_allclose(prepared.values, want['values'], rtol=1e-12,
                             atol=1e-12)
  assert list(prepared.windows.shape) == want['windows']
  np.testing.assert_array_equal(prepared.index[:len(prepared.windows)],
                                want['first'])
  assert any('gaps' in r for r in prepared.repairs)
