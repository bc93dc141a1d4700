r"""Times the workloads under several XLA:CPU flag settings, alternating.

  python -m benchmarks.xla_flags --rounds=2 --json=runs/flags/sweep.jsonl
  python -m benchmarks.xla_flags --settings=base,onednn --models=dcgan64

Each round runs `benchmarks.train_speed` once per setting (a fresh process,
since XLA reads XLA_FLAGS when its CPU client starts), in the order of
--settings, so that a drift of the host's speed falls on every setting
alike. The table gives, per workload, each setting's median seconds per
iteration over its runs, the runs themselves, and the ratio to 'base' (no
flags). `--json` keeps every row train_speed wrote, tagged with the setting,
and the sweep resumes from it: settings and rounds already there are not run
again.

The settings are XLA's own alternatives to its default CPU code paths in
jax 0.10: oneDNN for dots and convolutions, the XNNPACK and YNNPACK library
fusions, wider vectors on AVX-512, the concurrency-optimised scheduler.
"""

import collections
import json
import os
import statistics
import subprocess
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_list('settings', ['base', 'onednn', 'vec512', 'xnn', 'ynn',
                               'xnn_graph', 'concurrency'],
                  'Names of SETTINGS to compare.')
flags.DEFINE_string('models', 'mlp_mnist,dcgan32_mnist,dcgan64,wgan_gp32,'
                    'pix2pix256', 'Workloads (benchmarks.train_speed).')
flags.DEFINE_integer('rounds', 2, 'Runs of every setting.')
flags.DEFINE_string('json', 'runs/flags/sweep.jsonl', 'Rows, and the resume '
                    'point.')

_DOTCONV = ('LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,'
            'LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION')
SETTINGS = {
    'base': '',
    'onednn': '--xla_cpu_use_onednn=true',
    'vec512': '--xla_cpu_prefer_vector_width=512',
    'xnn': f'--xla_cpu_experimental_xnn_fusion_type={_DOTCONV}',
    'ynn': f'--xla_cpu_experimental_ynn_fusion_type={_DOTCONV}',
    'xnn_graph': ('--xla_cpu_experimental_xnn_graph_fusion_mode='
                  'XNN_GRAPH_FUSION_MODE_GREEDY'),
    'concurrency': '--xla_cpu_enable_concurrency_optimized_scheduler=true',
}


def _rows(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def main(argv):
  del argv
  os.makedirs(os.path.dirname(FLAGS.json) or '.', exist_ok=True)
  for r in range(FLAGS.rounds):
    for name in FLAGS.settings:
      done = {(row['setting'], row['round']) for row in _rows(FLAGS.json)}
      if (name, r) in done:
        continue
      env = dict(os.environ, XLA_FLAGS=SETTINGS[name],
                 JAXGAN_CONV_TUNING_S='0')
      tmp = FLAGS.json + '.part'
      if os.path.exists(tmp):
        os.remove(tmp)
      print(f'round {r} {name}: {SETTINGS[name] or "(no flags)"}', flush=True)
      subprocess.run([sys.executable, '-m', 'benchmarks.train_speed',
                      f'--models={FLAGS.models}', '--nopipeline',
                      f'--json={tmp}'], env=env, check=True)
      with open(FLAGS.json, 'a') as out:
        for row in _rows(tmp):
          out.write(json.dumps(dict(row, setting=name, round=r)) + '\n')
      os.remove(tmp)
  times = collections.defaultdict(list)
  for row in _rows(FLAGS.json):
    times[row['model'], row['setting']].append(row['sec_per_iter_median'])
  models = list(dict.fromkeys(m for m, _ in times))
  print(f'{"workload":<15}' + ''.join(f'{s:>22}' for s in FLAGS.settings))
  for m in models:
    base = statistics.median(times.get((m, 'base'), [float('nan')]))
    cells = []
    for s in FLAGS.settings:
      runs = times.get((m, s), [])
      med = statistics.median(runs) if runs else float('nan')
      cells.append(f'{med:.4f} ({base / med:.2f}x)')
    print(f'{m:<15}' + ''.join(f'{c:>22}' for c in cells))
  for m in models:
    print(m, {s: [round(t, 4) for t in times.get((m, s), [])]
              for s in FLAGS.settings})


if __name__ == '__main__':
  app.run(main)
