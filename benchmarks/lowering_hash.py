r"""A fingerprint of each workload's compiled iteration, to compare checkouts.

  PYTHONPATH=CHECKOUT python benchmarks/lowering_hash.py [--models=...]

Lowers `Trainer.step` of each workload (as `train_speed` builds it) to
StableHLO, drops the source locations (file names and line numbers) and
prints the md5 of the text with the SSA value names dropped too. Two checkouts that print the same hash hand XLA
the same program, so a timing difference between them is the host's, not
the code's. It imports `benchmarks.train_speed` from the checkout on
PYTHONPATH; any checkout since e3632df has the `JaxganRun` it uses (before
the families, `Trainer._inputs` returned the image and label arrays as a
tuple; unused arguments, such as the old unconditional GAN's dummy labels,
are pruned by jit either way).
"""

import hashlib
import re

from absl import app
from absl import flags

from benchmarks import train_speed

FLAGS = flags.FLAGS


def lowering_hash(name: str) -> tuple[str, int]:
  """(md5, length) of the location-free StableHLO of one iteration."""
  run = train_speed.JaxganRun(name, 'auto', 1, 'float32')
  trainer = run.trainer
  lead = getattr(getattr(trainer, 'family', None), 'batch_axis', 1)
  inputs = trainer._inputs(run.batches[0], lead)  # pylint: disable=protected-access
  if not isinstance(inputs, tuple):
    inputs = (inputs,)
  text = trainer._step.lower(run.state, *inputs).as_text()  # pylint: disable=protected-access
  text = re.sub(r'loc\(.*?\)', '', text)
  text = re.sub(r'#loc\d*( = .*)?', '', text)
  text = re.sub(r'%[\w#]*', '%', text)
  return hashlib.md5(text.encode()).hexdigest(), len(text)


def main(argv):
  del argv
  for name in FLAGS.models:
    digest, length = lowering_hash(name)
    print(f'{name:<14} {digest} ({length:,} characters)', flush=True)


if __name__ == '__main__':
  app.run(main)
