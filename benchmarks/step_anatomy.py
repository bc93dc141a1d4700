r"""What one training iteration is made of, and how it scales with the batch.

  python -m benchmarks.step_anatomy --what=kernels [--models=...]
  python -m benchmarks.step_anatomy --what=batch --batch_sizes=64,256,1024

--what=kernels compiles each workload's iteration (as `train_speed` does) in
float32 and bfloat16 and counts the kernels XLA launches for it: the fusions
and custom calls (cuDNN convolutions, cuBLAS GEMMs) of the optimised HLO,
those of the entry computation and those inside loop bodies (the critic
scan), with the median time of 50 iterations. On an accelerator an iteration
of small kernels is bound by their count and latency, not by FLOPs.

--what=batch times each workload at several batch sizes (median of 30
iterations) and prints the achieved model GFLOP/s: how far the papers'
batch of 64 is from filling the device.
"""

import collections
import re

from absl import app
from absl import flags
import numpy as np

from benchmarks import train_speed

FLAGS = flags.FLAGS
flags.DEFINE_enum('what', 'kernels', ['kernels', 'batch'], 'What to measure.')
flags.DEFINE_list('batch_sizes', ['64', '256', '1024'], 'For --what=batch.')
flags.DEFINE_list('dtypes', ['float32', 'bfloat16'], 'Compute dtypes.')


def _opcodes(text: str) -> collections.Counter:
  """Opcode counts of the instructions in HLO text (`name = shape op(...)`;
  a tuple shape is parenthesised and may hold spaces)."""
  ops = collections.Counter()
  for line in text.splitlines():
    _, sep, rest = line.partition(' = ')
    if not sep:
      continue
    if rest.startswith('('):  # Skip a tuple shape to its closing bracket.
      depth = 0
      for i, ch in enumerate(rest):
        depth += {'(': 1, ')': -1}.get(ch, 0)
        if depth == 0:
          rest = rest[i + 1:]
          break
    else:
      rest = rest.partition(' ')[2]
    match = re.match(r'\s*([\w-]+)\(', rest)
    if match:
      ops[match.group(1)] += 1
  return ops


def kernel_counts(hlo: str) -> dict:
  """Fusions and custom calls in an optimised HLO module's text."""
  entry = hlo[hlo.index('ENTRY'):]
  entry = entry[:entry.index('\n}')]
  entry_ops, all_ops = _opcodes(entry), _opcodes(hlo)
  targets = collections.Counter(re.findall(r'custom_call_target="([^"]+)"',
                                           hlo))
  return {'entry_fusions': entry_ops['fusion'],
          'entry_custom_calls': entry_ops['custom-call'],
          'all_fusions': all_ops['fusion'],
          'all_custom_calls': all_ops['custom-call'],
          'custom_call_targets': dict(targets)}


def _kernels(name, dtype):
  run = train_speed.JaxganRun(name, 'auto', 1, dtype)
  counts = kernel_counts(run.compiled_iteration().as_text())
  median = float(np.median(run.time(50)))
  print(f'{name:<14} {dtype:<9} {1e3 * median:8.2f} ms/iter  entry: '
        f'{counts["entry_fusions"]} fusions + {counts["entry_custom_calls"]} '
        f'custom calls; all: {counts["all_fusions"]} + '
        f'{counts["all_custom_calls"]}  {counts["custom_call_targets"]}',
        flush=True)


def _batch(name, dtype, batch_sizes):
  # Model FLOPs are linear in the batch.
  gflop_per_example = (train_speed.model_flops(name)['gflop_per_iter'] /
                       train_speed.WORKLOADS[name].batch)
  for batch in batch_sizes:
    run = train_speed.JaxganRun(name, 'auto', 1, dtype, batch_size=batch)
    median = float(np.median(run.time(30)))
    gflops = gflop_per_example * batch / median
    print(f'{name:<14} {dtype:<9} batch {batch:>5}: {1e3 * median:8.2f} '
          f'ms/iter {batch / median:>9.0f} img/s {gflops:9.1f} GFLOP/s',
          flush=True)


def main(argv):
  del argv
  for name in FLAGS.models:
    for dtype in FLAGS.dtypes:
      if FLAGS.what == 'kernels':
        _kernels(name, dtype)
      else:
        _batch(name, dtype, [int(b) for b in FLAGS.batch_sizes])


if __name__ == '__main__':
  app.run(main)
