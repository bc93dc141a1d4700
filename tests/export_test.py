"""python -m jaxgan.export: the generators of the noise GAN (conditional),
pix2pix, the context encoder, CycleGAN (one direction) and ProGAN (mid
fade) as ONNX, run by onnxruntime in a process where jax cannot be
imported, equal to `jaxgan.sample` / `jaxgan.translate` on the same inputs
to 1e-4; StableHLO equal too; the converter's primitives against JAX.

The runs are each family's reference config at reduced widths and a step or
two of training (CI time); the networks' full widths convert the same
primitives (checked once on 2026-12-06: DCGAN, cGAN, pix2pix 256, SRResNet,
the context encoder 128, CycleGAN's ResNet and ProGAN at 32x32 gave at most
1e-5 from JAX).
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime
import pytest

import cyclegan_test
import inpainting_test
import paired_test
import progressive_test
from jaxgan import cli
from jaxgan import errors
from jaxgan import export
from jaxgan import input_pipeline
from jaxgan import onnx_export
from jaxgan import sample
from jaxgan import train
from jaxgan import translate
from jaxgan.families.paired import inpainting
from jaxgan.families import progressive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE = jax.devices()[:1]

# Runs model.onnx on inputs.npz with onnxruntime, jax made unimportable
# first: the artifact needs nothing of JAX.
RUNNER = """
import sys
sys.modules['jax'] = None
try:
  import jax
except ImportError:
  pass
else:
  raise SystemExit('jax was importable')
import numpy as np
import onnxruntime
model, inputs, out = sys.argv[1:]
arrays = np.load(inputs)
session = onnxruntime.InferenceSession(model)
feeds = {i.name: arrays[i.name] for i in session.get_inputs()}
np.save(out, session.run(None, feeds)[0])
"""


def run_without_jax(tmp_path, model: str, inputs: dict) -> np.ndarray:
  np.savez(tmp_path / 'inputs.npz', **inputs)
  result = subprocess.run(
      [sys.executable, '-c', RUNNER, model, str(tmp_path / 'inputs.npz'),
       str(tmp_path / 'out.npy')], capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return np.load(tmp_path / 'out.npy')


def exported(tmp_path, workdir, **kwargs):
  card = export.export(str(workdir), str(tmp_path / 'model'), **kwargs)
  return card, str(tmp_path / 'model' / card['file'])


def test_conditional_gan_exports_as_sample_draws(tmp_path, tfds_dir):
  config = cli.load_config_file(os.path.join(ROOT, 'configs',
                                             'cgan.py') + ':mnist')
  config.data.data_dir = str(tfds_dir)
  config.model.g_features = config.model.d_features = 8
  config.train.batch_size = 8
  config.train.num_steps = 1
  config.train.ema_decay = 0.9
  config.sample_every = 0
  train.train_and_evaluate(config, tmp_path / 'run', ONE)
  card, model = exported(tmp_path, tmp_path / 'run', batch=4, ema=True)
  assert card['num_classes'] == 10 and card['latent_dim'] == 100
  assert [i['name'] for i in card['inputs']] == ['z', 'labels']
  assert card['output']['shape'] == [4, 28, 28, 1]
  z = np.random.default_rng(1).standard_normal((4, 100)).astype(np.float32)
  labels = np.array([0, 3, 7, 9], np.int32)
  want = sample.load(str(tmp_path / 'run'))(z, labels, ema=True)
  got = run_without_jax(tmp_path, model, {'z': z, 'labels': labels})
  np.testing.assert_allclose(got, want, atol=1e-4)
  # A near-initial generator's outputs are small (~1e-2): relative too.
  assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()
  # The card's checksum is of the weights: the EMA's differ from G's.
  plain, _ = exported(tmp_path / 'plain', tmp_path / 'run', batch=4)
  assert plain['weights_sha256'] != card['weights_sha256']
  assert card['config']['model']['latent_dim'] == 100
  # StableHLO: jax.export's serialization, the same outputs.
  card, path = exported(tmp_path / 'hlo', tmp_path / 'run', batch=4,
                        ema=True, fmt='stablehlo')
  with open(path, 'rb') as f:
    restored = jax.export.deserialize(bytearray(f.read()))
  np.testing.assert_allclose(restored.call(z, labels), want, atol=1e-5)


def test_pix2pix_and_the_context_encoder_export_as_translate_applies(
    tmp_path):
  paired_test.write_aligned(tmp_path / 'p2p' / 'train', n=8)
  config = paired_test.tiny(paired_test.pix2pix.get_config('aligned'),
                            tmp_path / 'p2p')
  config.model.g_features = 8
  config.train.batch_size = 4
  config.train.num_steps = 1
  config.eval_every = 0
  train.train_and_evaluate(config, tmp_path / 'p2p_run', ONE)
  card, model = exported(tmp_path, tmp_path / 'p2p_run', batch=2)
  assert card['family'] == 'paired' and card['direction'] == 'AtoB'
  source = np.random.default_rng(2).uniform(
      -1, 1, card['inputs'][0]['shape']).astype(np.float32)
  want = translate.load(str(tmp_path / 'p2p_run'))(source)
  got = run_without_jax(tmp_path, model, {'source': source})
  np.testing.assert_allclose(got, want, atol=1e-4)
  with pytest.raises(errors.ConfigError, match='no EMA'):
    export.export(str(tmp_path / 'p2p_run'), str(tmp_path / 'x'), ema=True)

  # Inpainting: the masked source and its holes in, the completion out.
  inpainting_test.write_quadrants(tmp_path / 'ce' / 'train', 16, 0)
  config = inpainting_test.tiny(tmp_path / 'ce', steps=1)
  config.eval_every = 0
  train.train_and_evaluate(config, tmp_path / 'ce_run', ONE)
  card, model = exported(tmp_path / 'ce', tmp_path / 'ce_run', batch=2)
  assert [i['name'] for i in card['inputs']] == ['source', 'holes']
  translator = translate.load(str(tmp_path / 'ce_run'))
  shape = card['inputs'][0]['shape']
  images = np.random.default_rng(3).integers(0, 256, shape, np.uint8)
  holes = np.zeros(shape[:3] + [1], np.uint8)
  holes[:, 8:24, 8:24] = 1
  want = translator.complete(images, holes)
  masked = inpainting.masked_uint8(translator.config.data, images, holes)
  got = run_without_jax(tmp_path, model, {
      'source': np.asarray(input_pipeline.to_model_input(masked)),
      'holes': holes})
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_cyclegan_exports_one_direction(tmp_path):
  cyclegan_test.write_domains(tmp_path / 'data', n=4)
  config = cyclegan_test.tiny(tmp_path / 'data', steps=1)
  train.train_and_evaluate(config, tmp_path / 'run', ONE)
  card, model = exported(tmp_path, tmp_path / 'run', batch=2,
                         direction='BtoA')
  assert card['network'] == 'G_B' and card['direction'] == 'BtoA'
  images = np.random.default_rng(4).uniform(
      -1, 1, card['inputs'][0]['shape']).astype(np.float32)
  want = translate.load(str(tmp_path / 'run'), direction='BtoA')(images)
  got = run_without_jax(tmp_path, model, {'image': images})
  np.testing.assert_allclose(got, want, atol=1e-4)
  with pytest.raises(errors.ConfigError, match='AtoB or BtoA'):
    export.export(str(tmp_path / 'run'), str(tmp_path / 'x'),
                  direction='sideways')


def test_progan_exports_its_checkpoint_phase(tmp_path):
  folder = tmp_path / 'faces'
  folder.mkdir()
  rng = np.random.default_rng(0)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for i in range(16):
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(
        folder / f'{i:02d}.png')
  config = progressive_test._config(folder, stable=16, fade=32)  # pylint: disable=protected-access
  config.train.num_steps = 3  # 4x4 is [0, 2); step 3 is mid 8x8 fade.
  train.train_and_evaluate(config, tmp_path / 'run', ONE)
  card, model = exported(tmp_path, tmp_path / 'run', batch=2, ema=True)
  assert card['phase'] == '8x8 fade-in' and card['alpha'] == 0.25
  assert card['output']['shape'] == [2, 16, 16, 3]
  z = np.random.default_rng(5).standard_normal((2, 16)).astype(np.float32)
  run = progressive.Progressive.servable(str(tmp_path / 'run'), ema=True)
  family = progressive.Progressive(config, (16, 16, 3))
  raw = jax.tree.map(np.asarray, run.weights)
  state = progressive.ProgressiveState(
      step=np.int32(3), g_params=raw, d_params=None, g_opt_state=None,
      d_opt_state=None, ema_params=raw)
  want = np.asarray(family.predict(state, {'z': z}, ema=True))
  got = run_without_jax(tmp_path, model, {'z': z})
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_a_series_run_is_refused_by_name(tmp_path):
  from jaxgan.families import series  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.ConfigError, match="'series' run has none"):
    series.Series.servable(str(tmp_path))


@pytest.mark.parametrize('name,fn,args', [
    ('interior and negative pad',
     lambda x: jax.lax.pad(x, 0.5, ((1, -1, 2), (0, 0, 0), (-1, 2, 1))),
     [(3, 2, 4)]),
    ('reflect pad and rev', lambda x: jnp.pad(x, ((0, 0), (2, 1), (1, 2)),
                                              mode='reflect')[:, ::-1],
     [(2, 5, 6)]),
    ('transposed conv', lambda x, w: jax.lax.conv_transpose(
        x, w, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')),
     [(2, 5, 5, 3), (4, 4, 3, 6)]),
    ('strided grouped conv', lambda x, w: jax.lax.conv_general_dilated(
        x, w, (2, 1), ((1, 2), (0, 1)), rhs_dilation=(1, 2),
        feature_group_count=2,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC')),
     [(2, 9, 8, 4), (3, 3, 2, 6)]),
    ('batched dot_general', lambda a, b: jnp.einsum('bij,bjk->bki', a, b),
     [(2, 3, 4), (2, 4, 5)]),
    ('reductions, select, broadcast',
     lambda x: jnp.where(x > 0, x.sum(1, keepdims=True), x.max(0)) *
     jax.lax.rsqrt(jnp.square(x).mean() + 1), [(3, 4)]),
])
def test_converter_primitives_match_jax(tmp_path, name, fn, args):
  del name
  rng = np.random.default_rng(0)
  arrays = [rng.standard_normal(shape).astype(np.float32) for shape in args]
  model = onnx_export.to_onnx(fn, arrays, [f'x{i}' for i in range(len(args))],
                              ['y'])
  session = onnxruntime.InferenceSession(model.SerializeToString())
  got = session.run(None, {f'x{i}': a for i, a in enumerate(arrays)})[0]
  np.testing.assert_allclose(got, np.asarray(fn(*arrays)), rtol=1e-5,
                             atol=1e-5)


def test_an_unsupported_primitive_is_named():
  with pytest.raises(onnx_export.UnsupportedError, match="'cumsum'"):
    onnx_export.to_onnx(lambda x: jnp.cumsum(x), [np.zeros(3, np.float32)],
                        ['x'], ['y'])
