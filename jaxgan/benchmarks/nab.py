r"""TadGAN on NAB, scored as Orion's benchmark, beside Orion's published F1.

  python -m jaxgan.benchmarks.nab \
      --groups=artificialWithAnomaly,realAWSCloudwatch,realAdExchange,realTraffic,realTweets \
      [--seeds=N] [--epochs=N] [--signals=KEY,...] [--out=runs/nab] \
      [--processes=N]

trains one detector per signal and seed of the groups (the 45 signals
Orion's benchmark runs: NAB's realAdExchange/exchange-4_cpc_results is not
among them) with `configs/tadgan.py:nab` (the
group's interval and score combination as Orion's per-dataset files), fit
and detected on the whole signal as Orion's benchmark runs NAB (no holdout,
no detrending), and scores the detected intervals against NAB's labelled
windows with Orion's overlap counts, summed per group (`families/series/
scoring.py`). --out gets one folder per signal and seed (the run's workdir:
its checkpoints, `anomalies.csv` and `scores.json`) and `table.json`; a
signal with scores.json is not trained again, so an interrupted benchmark
resumes; --notrain prints the table of the signals done so far, naming the
others. The table prints each group's tp/fp/fn, precision, recall and F1
(mean and spread over the seeds done on all the group's signals, then each
seed's) beside Orion's published TadGAN and ARIMA F1 (orion-ml 0.7.1), and
the mean over groups.

Every signal's iteration has the same shapes (n_critic x 64 windows of
100), so the compiled program is reused across signals through JAX's
persistent compilation cache (in --out). Vmapping signals measured not to
pay on a CPU (benchmarks/README.md, "Signals of equal shape vmapped");
--processes=N trains N signals at once instead: N processes of this
command, each pinned to one core, the signals shared out by their length
(`split_signals`), their output in --out/process-<k>.log (how this
project's NAB runs used a 2-core machine).

--orion_results=FILE,... reads Orion's own per-signal benchmark results
(`benchmark/results/<version>.csv` of sintel-dev/Orion, one file per
release), sums its TadGAN rows per group with the same scoring code, and
prints each release's F1 per group beside ours, with the releases' range: a
single run's group F1 moves by tenths between Orion's releases, which is
the scale a comparison with one published row has to be read against;
then, per signal, our counts by seed beside the releases' (how many
releases gave the same counts); then whether ours (the mean over seeds,
and each seed) and each release meets the issue's bar (F1 at least the
published on 3 of the 5 groups and on their mean), and how often a
synthetic rerun of Orion meets it: each signal's counts drawn from one of
its releases' at random (independent across signals), summed per group
(`resampled_reruns`).
"""

if __name__ == '__main__':
  # Before jax loads: glibc reads its tunables at start (jaxgan/hugepages.py).
  from jaxgan import hugepages  # pylint: disable=g-import-not-at-top
  hugepages.reexec()

import collections
import csv
import json
import os
import pathlib
import subprocess
import sys
import time

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from jaxgan import cli
from jaxgan import train
from jaxgan.families.series import data as series_data
from jaxgan.families.series import evaluation
from jaxgan.families.series import scoring

GROUPS = tuple(series_data.NAB_INTERVALS)
# NAB signals of these groups that Orion's benchmark does not run (its
# datasets list; benchmark/results/0.7.1.csv has no row for them): left
# out, so the groups' sums compare with Orion's (--signals runs them).
NOT_IN_ORION = ('realAdExchange/exchange-4_cpc_results.csv',)
# configs/tadgan.py, found beside the package.
CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                      'tadgan.py')

FLAGS = flags.FLAGS


def define_flags():
  """The command's flags (defined when it runs, not on import: the tests
  import this module beside others whose flags share these names)."""
  flags.DEFINE_list('groups', list(GROUPS), 'NAB groups to run.')
  flags.DEFINE_list('signals', [],
                    'Only these signals (keys <group>/<file>.csv).')
  flags.DEFINE_integer('seeds', 1, 'Seeds per signal (Orion: 1).')
  flags.DEFINE_integer('epochs', 0, 'Epochs per signal (0: Orion\'s 35).')
  flags.DEFINE_string('nab_dir', '../shared/data/nab',
                      'NAB\'s folder (data/, labels/).')
  flags.DEFINE_string('out', 'runs/nab', 'One folder per signal and seed, '
                      'and table.json; rerunning resumes.')
  flags.DEFINE_bool('train', True, 'Train the signals not yet done; '
                    '--notrain prints the table of those done (in --out) '
                    'and names the rest.')
  flags.DEFINE_integer('processes', 1, 'Benchmark processes, each pinned to '
                       'one CPU core, the signals shared out by their '
                       'length: N cores train N signals at once.')
  flags.DEFINE_list('orion_results', [],
                    'Orion benchmark result CSVs (benchmark/results/'
                    '<version>.csv) to print beside ours.')


def run_dir(out, signal: str, seed: int) -> pathlib.Path:
  return pathlib.Path(out) / signal.replace('/', '__').removesuffix(
      '.csv') / f'seed{seed}'


def run_signal(signal: str, seed: int, epochs: int, nab_dir: str,
               workdir: pathlib.Path) -> dict:
  """Trains and detects on one signal; its scores (also in scores.json)."""
  done = workdir / 'scores.json'
  if done.exists():
    return json.loads(done.read_text())
  config = cli.load_config_file(CONFIG + ':nab')
  config.data.data_dir = nab_dir
  config.data.signal = signal
  config.seed = seed
  # A checkpoint every ~2 minutes of CPU, so a stopped benchmark resumes
  # mid-signal (a realTweets signal is 840 iterations, ~13 min).
  config.checkpoint_every = 120
  if epochs:
    config.train.epochs = epochs
  start = time.time()
  # A signal stopped before its first checkpoint starts again (its partial
  # records moved to restarted-N/); one with a checkpoint resumes from it.
  restart = workdir.exists() and not any(
      p.name.isdigit() for p in (workdir / 'checkpoints').glob('*'))
  train.train_and_evaluate(config, str(workdir), jax.devices()[:1],
                           restart=restart)
  if not (workdir / 'anomalies.csv').exists():
    # SIGTERM or SIGINT: training checkpointed and returned before its
    # detection. Not a result: stop here, as `jaxgan.main` does.
    logging.warning('%s seed %d stopped before its detection; its '
                    'checkpoint is in %s: run the same command to resume.',
                    signal, seed, workdir)
    raise SystemExit(0)
  found = evaluation.read_anomalies(workdir / 'anomalies.csv')
  labels = series_data.read_labels(
      pathlib.Path(nab_dir) / 'labels' / 'combined_windows.json',
      [signal])[signal]
  row = {'signal': signal, 'seed': seed, 'epochs': config.train.epochs,
         'seconds': round(time.time() - start, 1), 'detected': len(found),
         **scoring.overlap_counts(labels, [(a, b) for a, b, _ in found])}
  done.write_text(json.dumps(row))
  return row


def signal_intervals(nab_dir: str, signal: str) -> int:
  """The number of the group's intervals the signal spans: its windows,
  what its training and detection take time in proportion to."""
  path = pathlib.Path(nab_dir) / 'data' / signal
  t = series_data.read_csv(path, name=signal).timestamps
  return int((t[-1] - t[0]) // series_data.NAB_INTERVALS[
      signal.split('/')[0]]) + 1


def split_signals(work: dict[str, float], n: int) -> list[list[str]]:
  """The signals in at most n lists of about equal summed work: the largest
  first, each to the list with the least so far; each list in the order of
  `work`."""
  loads, parts = [0.0] * n, [[] for _ in range(n)]
  for signal in sorted(work, key=lambda s: -work[s]):
    k = int(np.argmin(loads))
    parts[k].append(signal)
    loads[k] += work[signal]
  order = {s: i for i, s in enumerate(work)}
  return [sorted(p, key=order.get) for p in parts if p]


def child_command(part: list[str]) -> list[str]:
  """This command (its flags as given) on one process's signals."""
  return [sys.executable, '-m', 'jaxgan.benchmarks.nab', '--processes=1',
          f'--groups={",".join(FLAGS.groups)}', f'--signals={",".join(part)}',
          f'--seeds={FLAGS.seeds}', f'--epochs={FLAGS.epochs}',
          f'--nab_dir={FLAGS.nab_dir}', f'--out={FLAGS.out}']


def run_processes(parts: list[list[str]], out: pathlib.Path,
                  command=child_command) -> None:
  """`command(part)` for every part at once, each process pinned to one of
  this process's CPUs in turn, its output in out/process-<k>.log; returns
  when all have. A process that failed is an error naming its log; if this
  one is stopped, its processes are stopped too (SIGTERM: a signal in
  training checkpoints, and the next run resumes it)."""
  cpus = sorted(os.sched_getaffinity(0))
  procs, logs = [], []
  try:
    for k, part in enumerate(parts):
      logs.append(out / f'process-{k}.log')
      cpu = cpus[k % len(cpus)]
      logging.info('process %d on CPU %d: %d signals (%s)', k, cpu,
                   len(part), logs[-1])
      with open(logs[-1], 'a') as log:
        procs.append(subprocess.Popen(  # pylint: disable=consider-using-with
            command(part), stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda c=cpu: os.sched_setaffinity(0, {c})))
    codes = [p.wait() for p in procs]
  except BaseException:
    for p in procs:
      if p.poll() is None:
        p.terminate()
    for p in procs:
      p.wait()
    raise
  failed = [str(log) for log, code in zip(logs, codes) if code]
  if failed:
    raise RuntimeError(
        f'{len(failed)} of {len(procs)} benchmark processes failed: see '
        f'{", ".join(failed)}; the signals they finished are kept, and the '
        'same command resumes the rest')


def table(rows: list[dict]) -> dict:
  """Per group: summed counts per seed, F1 mean and spread over seeds, and
  Orion's numbers; 'mean' the mean of the groups' F1. A group's seeds are
  those done on all its signals (of `rows`), while any is; a benchmark
  still running its first seed sums the signals done."""
  seeds = sorted({r['seed'] for r in rows})
  per_seed = {s: scoring.summarize([r for r in rows if r['seed'] == s])
              for s in seeds}
  out = {}
  for group in sorted({r['signal'].split('/')[0] for r in rows}):
    signals = {r['signal'] for r in rows
               if r['signal'].split('/')[0] == group}
    done = [s for s in seeds if group in per_seed[s]]
    done = [s for s in done
            if per_seed[s][group]['signals'] == len(signals)] or done
    runs = [per_seed[s][group] for s in done]
    f1 = np.array([r['f1'] for r in runs], np.float64)
    out[group] = {
        'signals': runs[0]['signals'], 'seeds': len(runs),
        'seed_ids': done, 'f1_by_seed': [float(x) for x in f1],
        'tp': [r['tp'] for r in runs], 'fp': [r['fp'] for r in runs],
        'fn': [r['fn'] for r in runs],
        'precision': float(np.mean([r['precision'] for r in runs])),
        'recall': float(np.mean([r['recall'] for r in runs])),
        'f1': float(np.mean(f1)), 'f1_std': float(np.std(f1)),
        'orion_tadgan_f1': scoring.ORION_F1.get(group, {}).get('tadgan'),
        'orion_arima_f1': scoring.ORION_F1.get(group, {}).get('arima')}
  f1s = [g['f1'] for g in out.values()]
  orion = [g['orion_tadgan_f1'] for g in out.values()]
  out['mean'] = {'f1': float(np.mean(f1s)),
                 'orion_tadgan_f1': (float(np.mean(orion))
                                     if None not in orion else None)}
  done = [g['seed_ids'] for g in out.values() if 'seed_ids' in g]
  if all(d == done[0] for d in done):  # Each seed's benchmark mean.
    out['mean']['f1_by_seed'] = [float(x) for x in np.mean(
        [g['f1_by_seed'] for g in out.values() if 'seed_ids' in g], 0)]
  return out


def orion_rows(path, pipeline: str = 'tadgan') -> list[dict]:
  """One release's per-signal rows of Orion's benchmark results CSV
  (columns dataset, pipeline, signal, iteration, tp, fp, fn, ...) for the
  NAB groups, as `table` takes them (Orion's iteration as the seed)."""
  with open(path, newline='') as f:
    reader = csv.DictReader(f)
    need = {'dataset', 'pipeline', 'signal', 'tp', 'fp', 'fn'}
    if not need <= set(reader.fieldnames or ()):
      raise ValueError(f'{path}: not an Orion benchmark results CSV (needs '
                       f'the columns {sorted(need)}; has {reader.fieldnames})')
    rows = [{'signal': f'{r["dataset"]}/{r["signal"]}.csv',
             'seed': int(r.get('iteration') or 0),
             **{k: int(float(r[k] or 0)) for k in ('tp', 'fp', 'fn')}}
            for r in reader
            if r['pipeline'] == pipeline and r['dataset'] in GROUPS]
  if not rows:
    raise ValueError(f'{path}: no {pipeline} rows for the NAB groups')
  return rows


def format_orion_releases(ours: dict, releases: dict[str, dict]) -> str:
  """Orion's F1 per group for each release (name -> `table` of its rows),
  their range, and ours."""
  groups = [g for g in ours if g != 'mean']
  lines = [f'{"Orion release":14s} ' + ' '.join(f'{g[:12]:>12s}'
                                                 for g in groups)]
  for name, t in releases.items():
    lines.append(f'{name:14s} ' + ' '.join(
        f'{t[g]["f1"]:12.3f}' if g in t else f'{"-":>12s}' for g in groups))
  for label, fn in (('min', np.min), ('median', np.median), ('max', np.max)):
    lines.append(f'{label:14s} ' + ' '.join(
        f'{fn([t[g]["f1"] for t in releases.values() if g in t]):12.3f}'
        for g in groups))
  lines.append(f'{"jaxgan":14s} ' + ' '.join(f'{ours[g]["f1"]:12.3f}'
                                             for g in groups))
  return '\n'.join(lines)


def signals_against_releases(rows: list[dict],
                             releases: dict[str, list[dict]]) -> list[dict]:
  """Per signal of ours: our tp/fp/fn for each seed, how many of Orion's
  releases (name -> `orion_rows`) gave exactly those counts, and the
  releases' counts from most to least common: whether a group's difference
  is one Orion's own reruns show, and whether our seeds differ as its
  releases do."""
  ours = collections.defaultdict(dict)
  for row in rows:
    ours[row['signal']][row['seed']] = (row['tp'], row['fp'], row['fn'])
  out = []
  for signal, seeds in ours.items():
    counts = collections.Counter(
        (r['tp'], r['fp'], r['fn']) for rel in releases.values()
        for r in rel if r['signal'] == signal and r['seed'] == 0)
    mine = [seeds[s] for s in sorted(seeds)]
    out.append({'signal': signal, 'seeds': sorted(seeds), 'ours': mine,
                'releases': sum(counts.values()),
                'same': [counts.get(c, 0) for c in mine],
                'common': counts.most_common()})
  return out


def format_signals(compared: list[dict]) -> str:
  """One line per signal: our counts by seed, how many releases gave each,
  the releases' counts."""
  width = max(9, *(len(' '.join('/'.join(map(str, c)) for c in x['ours']))
                   for x in compared))
  same = max(4, *(len(','.join(map(str, x['same']))) for x in compared))
  lines = [f'{"signal":58s} {"ours (by seed)":>{width}s}  '
           f'{"same":>{same + 6}s}  Orion\'s releases']
  for c in compared:
    lines.append(
        f'{c["signal"]:58s} '
        f'{" ".join("/".join(map(str, o)) for o in c["ours"]):>{width}s}  '
        f'{",".join(map(str, c["same"])):>{same}s} of {c["releases"]:<2d}  '
        + ', '.join(f'{"/".join(map(str, k))} x{n}' for k, n in c['common']))
  runs = sum(len(c['same']) for c in compared)
  seen = sum(n > 0 for c in compared for n in c['same'])
  mode = sum(bool(c['common']) and n == c['common'][0][1]
             for c in compared for n in c['same'])
  lines.append(f'{seen} of {runs} runs (signal and seed) gave counts some '
               f'Orion release gave; {mode} its most common counts.')
  return '\n'.join(lines)


def meets_bar(group_f1: dict, published: dict[str, float], groups: int = 3):
  """The issue's bar: F1 at least the published on at least `groups` of
  the published groups, and the mean over them at least theirs (a group
  missing or NaN counts as below). Values may be arrays of draws: then one
  answer per draw."""
  f1 = np.array([np.asarray(group_f1.get(g, np.nan), np.float64)
                 for g in published])
  target = np.array(list(published.values())).reshape(
      (-1,) + (1,) * (f1.ndim - 1))
  ok = (((f1 >= target).sum(0) >= groups) & ~np.isnan(f1).any(0)
        & (f1.mean(0) >= target.mean()))
  return ok if ok.ndim else bool(ok)


def resampled_reruns(release_rows: dict[str, list[dict]],
                     draws: int = 10000, seed: int = 0) -> dict:
  """Synthetic single runs of Orion's benchmark: for each signal, the
  tp/fp/fn of one of the releases (name -> `orion_rows`, iteration 0)
  drawn at random, independently across signals, summed per group as
  `table`. Returns the draws' group F1 (`f1`, name -> array) and the
  fraction meeting `meets_bar` against the published row (ORION_F1): how
  often a rerun of Orion itself, varying per signal as
  its releases do, would pass the issue's bar."""
  published = {g: v['tadgan'] for g, v in scoring.ORION_F1.items()}
  per_signal = collections.defaultdict(list)
  for rel in release_rows.values():
    for r in rel:
      if r['seed'] == 0:
        per_signal[r['signal']].append((r['tp'], r['fp'], r['fn']))
  signals = sorted(per_signal)
  rng = np.random.default_rng(seed)
  sums = {g: np.zeros((draws, 3)) for g in published}
  for signal in signals:
    group = signal.split('/')[0]
    if group not in sums:
      continue
    outcomes = np.array(per_signal[signal], np.float64)
    sums[group] += outcomes[rng.integers(0, len(outcomes), draws)]
  f1 = {}
  for group, c in sums.items():
    tp, fp, fn = c.T
    with np.errstate(invalid='ignore', divide='ignore'):
      f1[group] = 2 * tp / (2 * tp + fp + fn)
  return {'f1': f1, 'bar': float(np.mean(meets_bar(f1, published))),
          'signals': len(signals), 'draws': draws}


def format_bar(ours: dict, releases: dict[str, dict],
               resampled: dict | None = None) -> str:
  """Whether ours and each whole release meet the issue's bar against the
  published row, and the resampled reruns' percentiles and pass rate."""
  published = {g: v['tadgan'] for g, v in scoring.ORION_F1.items()}
  f1 = lambda t: {g: t[g]['f1'] for g in t if g != 'mean'}  # pylint: disable=unnecessary-lambda-assignment
  passed = [n for n, t in releases.items() if meets_bar(f1(t), published)]
  lines = [f'The bar (F1 >= published on 3 of {len(published)} groups, '
           f'mean >= {np.mean(list(published.values())):.3f}): jaxgan '
           f'{"meets" if meets_bar(f1(ours), published) else "does not meet"}'
           f' it; Orion\'s releases meeting it: {len(passed)} of '
           f'{len(releases)} ({", ".join(passed) or "none"})']
  n = len(ours['mean'].get('f1_by_seed', ()))
  if n > 1:
    each = meets_bar({g: ours[g]['f1_by_seed'] if g in ours else [np.nan] * n
                      for g in published}, published)  # One per seed.
    lines.append(f'jaxgan by seed (the mean F1 above is over them): '
                 f'{int(np.sum(each))} of {len(each)} seeds meet it')
  if resampled:
    lines.append(
        f'Orion reruns resampled per signal from its releases '
        f'({resampled["draws"]} draws of {resampled["signals"]} signals): '
        f'{100 * resampled["bar"]:.1f}% meet the bar; percentiles 5/50/95:')
    groups = [g for g in published if g in ours]
    mean_ours = np.mean([ours[g]['f1'] for g in groups])
    # The mean over our groups (all five once the benchmark is whole).
    mean_draws = np.mean([resampled['f1'][g] for g in groups], axis=0)
    for name, draws, mine in (
        [(g, resampled['f1'][g], ours[g]['f1']) for g in groups]
        + [('mean of groups', mean_draws, mean_ours)]):
      p5, p50, p95 = np.nanpercentile(draws, [5, 50, 95])
      below = float(np.mean(draws < mine - 1e-12))
      lines.append(f'  {name:24s} {p5:.3f} {p50:.3f} {p95:.3f}   jaxgan '
                   f'{mine:.3f} (above {100 * below:.0f}% of the draws)')
  return '\n'.join(lines)


def format_table(t: dict) -> str:
  lines = [f'{"group":24s} {"sig":>3s} {"tp":>5s} {"fp":>5s} {"fn":>5s} '
           f'{"prec":>6s} {"rec":>6s} {"F1":>13s} {"Orion":>6s} {"ARIMA":>6s}']
  for group, g in t.items():
    if group == 'mean':
      continue
    spread = f'+-{g["f1_std"]:.3f}' if g['seeds'] > 1 else ''
    lines.append(
        f'{group:24s} {g["signals"]:3d} {np.mean(g["tp"]):5.1f} '
        f'{np.mean(g["fp"]):5.1f} {np.mean(g["fn"]):5.1f} '
        f'{g["precision"]:6.3f} {g["recall"]:6.3f} '
        f'{g["f1"]:6.3f}{spread:>7s} {g["orion_tadgan_f1"] or 0:6.3f} '
        f'{g["orion_arima_f1"] or 0:6.3f}')
  m = t['mean']
  lines.append(f'{"mean of groups":24s} {"":>48s} {m["f1"]:6.3f}{"":7s} '
               f'{m["orion_tadgan_f1"] or 0:6.3f}')
  if any(g['seeds'] > 1 for k, g in t.items() if k != 'mean'):
    lines.append('F1 by seed:')
    for group, g in t.items():
      if group != 'mean':
        lines.append(f'  {group:22s} ' + ' '.join(
            f'{s}: {f:.3f}' for s, f in zip(g['seed_ids'], g['f1_by_seed'])))
    if 'f1_by_seed' in m:
      lines.append(f'  {"mean of groups":22s} ' + ' '.join(
          f'{s}: {f:.3f}' for s, f in zip(next(iter(t.values()))['seed_ids'],
                                          m['f1_by_seed'])))
  return '\n'.join(lines)


def main(argv):
  del argv
  unknown = [g for g in FLAGS.groups if g not in GROUPS]
  if unknown:
    raise app.UsageError(f'--groups: {unknown} are not NAB groups of '
                         f'Orion\'s benchmark ({", ".join(GROUPS)})')
  if FLAGS.processes < 1:
    raise app.UsageError(f'--processes={FLAGS.processes}: at least 1')
  # Read before hours of training, so a wrong path fails now.
  release_rows = {pathlib.Path(p).stem: orion_rows(p)
                  for p in FLAGS.orion_results}
  releases = {name: table(r) for name, r in release_rows.items()}
  out = pathlib.Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', str(out / 'jax-cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  signals = series_data.nab_signals(FLAGS.nab_dir, FLAGS.groups)
  if FLAGS.signals:
    missing = sorted(set(FLAGS.signals) - set(signals))
    if missing:
      raise app.UsageError(f'--signals: {missing} are not in the groups '
                           f'{FLAGS.groups}')
    signals = [s for s in signals if s in FLAGS.signals]
  else:
    signals = [s for s in signals if s not in NOT_IN_ORION]
  todo = [s for s in signals for seed in range(FLAGS.seeds)
          if not (run_dir(out, s, seed) / 'scores.json').exists()]
  if FLAGS.train and FLAGS.processes > 1 and todo:
    todo = list(dict.fromkeys(todo))
    run_processes(split_signals(
        {s: signal_intervals(FLAGS.nab_dir, s) for s in todo},
        FLAGS.processes), out)
  # With processes, what they left undone (stopped) is named, not trained.
  train_here = FLAGS.train and FLAGS.processes == 1
  rows, missing = [], []
  for signal in signals:
    for seed in range(FLAGS.seeds):
      done = run_dir(out, signal, seed) / 'scores.json'
      if not train_here and not done.exists():
        missing.append(f'{signal} seed {seed}')
        continue
      row = run_signal(signal, seed, FLAGS.epochs, FLAGS.nab_dir,
                       run_dir(out, signal, seed))
      logging.info('%s seed %d: tp %d fp %d fn %d (%.0f s)', signal, seed,
                   row['tp'], row['fp'], row['fn'], row['seconds'])
      rows.append(row)
  if not rows:
    raise app.UsageError(f'{out}: no signal done yet (--notrain)')
  result = table(rows)
  if not missing:  # table.json is the whole benchmark's.
    (out / 'table.json').write_text(json.dumps(
        {'table': result, 'signals': rows}, indent=1))
  print(format_table(result))
  if missing:
    print(f'Not done yet ({len(missing)}; this table sums the rest, its '
          f'groups are partial): ' + ', '.join(missing))
  if releases:
    print(format_orion_releases(result, releases))
    print(format_signals(signals_against_releases(rows, release_rows)))
    print(format_bar(result, releases, resampled_reruns(release_rows)))


if __name__ == '__main__':
  define_flags()
  app.run(main)
