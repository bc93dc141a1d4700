r"""A run's generator as a portable artifact with its model card.

  python -m jaxgan.export --workdir=runs/dcgan --out=exported/dcgan \
      [--step=N] [--best] [--ema] [--format=onnx|stablehlo] [--batch=8] \
      [--direction=AtoB|BtoA]

writes OUT/model.onnx (or model.stablehlo, `jax.export`'s serialization)
and OUT/card.json: the family, the inputs and output with their shapes,
dtypes and ranges, the classes and latent size, the run's config and step,
and the SHA-256 of the weights. Whatever the run's family, its
`Family.servable` gives the function (noise -> image or image -> image)
that `python -m jaxgan.sample` or `python -m jaxgan.translate` applies
(`Family.servable`), at a fixed batch of --batch (the artifact's shapes are
static: a server or page calls it once per --batch inputs).

ONNX is written by `jaxgan.onnx_export` (why not a converter package: its
docstring) and runs in onnxruntime on a server or a serverless function and
in the browser with onnxruntime-web; tests/export_test.py checks, for every
family, that onnxruntime in a process without JAX gives the outputs of
sample/translate to 1e-4.
"""

import hashlib
import json
import os
import time

from absl import app
from absl import flags
import jax
import numpy as np

from jaxgan import checkpoints
from jaxgan import cli
from jaxgan import families

FLAGS = flags.FLAGS
FORMATS = ('onnx', 'stablehlo')
FILES = {'onnx': 'model.onnx', 'stablehlo': 'model.stablehlo'}


def define_flags():
  flags.DEFINE_string('workdir', None, 'The run to export.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('best', False, 'From checkpoints_best.')
  flags.DEFINE_bool('ema', False, 'The EMA of the generator weights.')
  flags.DEFINE_enum('format', 'onnx', list(FORMATS), 'The artifact.')
  flags.DEFINE_integer('batch', 8, 'The artifact\'s batch size.')
  flags.DEFINE_string('direction', None, 'Translation runs: AtoB or BtoA.')
  flags.DEFINE_string('out', None, 'The folder of the artifact and card.')


def weights_sha256(tree) -> str:
  """SHA-256 over every array of `tree` (its path, dtype, shape, bytes)."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(
      kv[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f'{jax.tree_util.keystr(path)}|{array.dtype}|'
                  f'{array.shape}|'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def example_inputs(servable, batch: int, seed: int = 0) -> list[np.ndarray]:
  """Arrays of the servable's inputs at `batch`: standard normal latents,
  labels cycling over the classes, images uniform in their range."""
  rng = np.random.default_rng(seed)
  arrays = []
  for spec in servable.inputs:
    shape = (batch, *spec['shape'])
    if 'classes' in spec:
      arrays.append((np.arange(batch) % spec['classes']).astype(
          spec['dtype']))
    elif spec['range'] == 'standard normal':
      arrays.append(rng.standard_normal(shape).astype(spec['dtype']))
    elif spec['dtype'] == 'uint8':
      lo, hi = spec['range']
      arrays.append(rng.integers(lo, hi + 1, shape).astype(np.uint8))
    else:
      lo, hi = spec['range']
      arrays.append(rng.uniform(lo, hi, shape).astype(spec['dtype']))
  return arrays


def export(workdir: str, out: str, fmt: str = 'onnx', batch: int = 8,
           step: int | None = None, best: bool = False, ema: bool = False,
           direction: str | None = None) -> dict:
  """Writes OUT/model.<format> and OUT/card.json; returns the card."""
  if fmt not in FORMATS:
    raise ValueError(f'--format={fmt}: one of {FORMATS}')
  if batch < 1:
    raise ValueError(f'--batch={batch}: at least 1')
  run = checkpoints.read_run(workdir, step, best,
                             tuple(families.FAMILIES))
  family = families.get(run.config.family)
  servable = family.servable(workdir, run.step, best, ema, direction)
  args = example_inputs(servable, batch)
  names = [spec['name'] for spec in servable.inputs]
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, FILES[fmt])
  if fmt == 'onnx':
    from jaxgan import onnx_export  # pylint: disable=g-import-not-at-top
    import onnx  # pylint: disable=g-import-not-at-top
    model = onnx_export.to_onnx(servable.fn, args, names,
                                [servable.output['name']],
                                doc=f'jaxgan {run.config.family} generator '
                                f'of {workdir} step {run.step}')
    onnx.save(model, path)
  else:
    exported = jax.export.export(jax.jit(servable.fn))(
        *[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args])
    with open(path, 'wb') as f:
      f.write(exported.serialize())
  card = {k: v for k, v in servable.card.items() if k != 'config'}
  card.update({
      'format': fmt, 'file': FILES[fmt], 'family': run.config.family,
      'workdir': os.path.abspath(workdir), 'batch': batch, 'ema': ema,
      'inputs': [{**spec, 'shape': [batch, *spec['shape']]}
                 for spec in servable.inputs],
      'output': {**servable.output,
                 'shape': [batch, *servable.output['shape']]},
      'weights_sha256': weights_sha256(servable.weights),
      'dataset': run.config.data.get('name'),
      'config': json.loads(servable.card['config'].to_json_best_effort()),
      'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())})
  with open(os.path.join(out, 'card.json'), 'w') as f:
    json.dump(card, f, indent=1)
  return card


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  if not FLAGS.workdir or not FLAGS.out:
    raise app.UsageError('--workdir (the run) and --out (a folder) are '
                         'required')
  card = export(FLAGS.workdir, FLAGS.out, FLAGS.format, FLAGS.batch,
                FLAGS.step, FLAGS.best, FLAGS.ema, FLAGS.direction)
  print(f'{os.path.join(FLAGS.out, card["file"])}: the {card["family"]} '
        f'generator of step {card["step"]}, inputs '
        + ', '.join(f'{i["name"]} {i["shape"]}' for i in card['inputs'])
        + f' -> {card["output"]["shape"]}; card.json beside it')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
