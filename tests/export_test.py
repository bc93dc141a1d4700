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

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime
from PIL import Image
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
from jaxgan.serving import handler
from jaxgan.serving import package

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


@pytest.fixture(scope='module')
def cgan_run(build_once, tfds_dir):
  """A conditional DCGAN (configs/cgan.py:mnist at width 8) after a step
  (trained once per test run)."""

  def build(root):
    config = cli.load_config_file(os.path.join(ROOT, 'configs',
                                               'cgan.py') + ':mnist')
    config.data.data_dir = str(tfds_dir)
    config.model.g_features = config.model.d_features = 8
    config.train.batch_size = 8
    config.train.num_steps = 1
    config.train.ema_decay = 0.9
    config.sample_every = 0
    train.train_and_evaluate(config, root / 'run', ONE)

  return build_once('export-cgan', build) / 'run'


def test_conditional_gan_exports_as_sample_draws(tmp_path, cgan_run):
  card, model = exported(tmp_path, cgan_run, batch=4, ema=True)
  assert card['num_classes'] == 10 and card['latent_dim'] == 100
  assert [i['name'] for i in card['inputs']] == ['z', 'labels']
  assert card['output']['shape'] == [4, 28, 28, 1]
  z = np.random.default_rng(1).standard_normal((4, 100)).astype(np.float32)
  labels = np.array([0, 3, 7, 9], np.int32)
  want = sample.load(str(cgan_run))(z, labels, ema=True)
  got = run_without_jax(tmp_path, model, {'z': z, 'labels': labels})
  np.testing.assert_allclose(got, want, atol=1e-4)
  # A near-initial generator's outputs are small (~1e-2): relative too.
  assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()
  # The card's checksum is of the weights: the EMA's differ from G's.
  plain, _ = exported(tmp_path / 'plain', cgan_run, batch=4)
  assert plain['weights_sha256'] != card['weights_sha256']
  assert card['config']['model']['latent_dim'] == 100
  # StableHLO: jax.export's serialization, the same outputs.
  card, path = exported(tmp_path / 'hlo', cgan_run, batch=4,
                        ema=True, fmt='stablehlo')
  with open(path, 'rb') as f:
    restored = jax.export.deserialize(bytearray(f.read()))
  np.testing.assert_allclose(restored.call(z, labels), want, atol=1e-5)


@pytest.fixture(scope='module')
def pix2pix_run(build_once):
  """pix2pix (configs/pix2pix.py:aligned at width 8) after a step (trained
  once per test run)."""

  def build(root):
    paired_test.write_aligned(root / 'p2p' / 'train', n=8)
    config = paired_test.tiny(paired_test.pix2pix.get_config('aligned'),
                              root / 'p2p')
    config.model.g_features = 8
    config.train.batch_size = 4
    config.train.num_steps = 1
    config.eval_every = 0
    train.train_and_evaluate(config, root / 'run', ONE)

  return build_once('export-pix2pix', build) / 'run'


def test_pix2pix_and_the_context_encoder_export_as_translate_applies(
    tmp_path, pix2pix_run):
  card, model = exported(tmp_path, pix2pix_run, batch=2)
  assert card['family'] == 'paired' and card['direction'] == 'AtoB'
  source = np.random.default_rng(2).uniform(
      -1, 1, card['inputs'][0]['shape']).astype(np.float32)
  want = translate.load(str(pix2pix_run))(source)
  got = run_without_jax(tmp_path, model, {'source': source})
  np.testing.assert_allclose(got, want, atol=1e-4)
  with pytest.raises(errors.ConfigError, match='no EMA'):
    export.export(str(pix2pix_run), str(tmp_path / 'x'), ema=True)

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


# --- The serverless handler ---------------------------------------------------


def _pixels(png: str) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(png))))


def test_handler_draws_as_sample_in_process_and_over_http(tmp_path,
                                                         cgan_run):
  export.export(str(cgan_run), str(tmp_path / 'model'), batch=4)
  model_dir = str(tmp_path / 'model')
  out = handler.handler({'seed': 3, 'count': 6, 'class': 2}, None, model_dir)
  assert out['statusCode'] == 200, out
  body = json.loads(out['body'])
  assert body['classes'] == [2] * 6 and body['seed'] == 3
  assert len(body['images']) == 6 and (body['height'], body['width']) == (
      28, 28)
  # The handler's latents are numpy's; sample.load's generator on them
  # (6 rows: one batch of 4 and one padded).
  z = np.random.default_rng(3).standard_normal((6, 100)).astype(np.float32)
  want = sample.load(str(cgan_run))(z, np.full(6, 2, np.int32))
  want = np.clip(np.round((want[..., 0] + 1) * 127.5), 0, 255)
  got = np.stack([_pixels(png) for png in body['images']]).astype(float)
  assert np.abs(got - want).max() <= 1
  # Explicit latents give the same images; a request is deterministic.
  again = handler.handler({'body': json.dumps(
      {'latent': z[:2].tolist(), 'class': 2})}, None, model_dir)
  assert json.loads(again['body'])['images'] == body['images'][:2]
  for request, message in (
      ({'class': 10}, 'classes 0 to 9'), ({'count': 0}, '1 to 64'),
      ({'seed': 'x'}, 'integer'), ({'latent': [[0.0] * 3]}, 'rows of 100'),
      ({'image': 'aGk='}, None)):
    answer = handler.handler(request, None, model_dir)
    if message:
      assert answer['statusCode'] == 400
      assert message in json.loads(answer['body'])['error'], answer
  assert handler.handler({'body': '{not json'}, None,
                         model_dir)['statusCode'] == 400
  # The HTTP shim: the same bytes; a bad request does not stop it.
  server = handler.serve_http(model_dir, port=0)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  url = f'http://127.0.0.1:{server.server_address[1]}/'
  try:
    def post(payload):
      request = urllib.request.Request(url, json.dumps(payload).encode(),
                                       {'Content-Type': 'application/json'})
      try:
        with urllib.request.urlopen(request, timeout=60) as response:
          return response.status, json.loads(response.read())
      except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    assert post({'class': -1})[0] == 400
    status, answer = post({'seed': 3, 'count': 6, 'class': 2})
    assert status == 200 and answer['images'] == body['images']
  finally:
    server.shutdown()


def test_handler_translates_an_uploaded_image_and_refuses_others(
    tmp_path, pix2pix_run):
  export.export(str(pix2pix_run), str(tmp_path / 'model'), batch=1)
  rng = np.random.default_rng(6)
  photo = rng.integers(0, 256, (32, 32, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(photo).save(buffer, format='PNG')
  upload = base64.b64encode(buffer.getvalue()).decode()
  out = handler.handler({'image': upload}, None, str(tmp_path / 'model'))
  assert out['statusCode'] == 200, out
  got = _pixels(json.loads(out['body'])['images'][0]).astype(float)
  want = translate.load(str(pix2pix_run))(photo[None])[0]
  assert np.abs(got - np.clip(np.round((want + 1) * 127.5), 0, 255)).max() <= 1
  for request, message in (({'image': base64.b64encode(b'not an image')
                             .decode()}, 'not a base64 PNG or JPEG'),
                           ({'seed': 1}, 'translates images')):
    answer = handler.handler(request, None, str(tmp_path / 'model'))
    assert answer['statusCode'] == 400
    assert message in json.loads(answer['body'])['error']
  # The page in a real browser: the upload's translation is the handler's.
  from jaxgan import serve  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  (tmp_path / 'photo.png').write_bytes(buffer.getvalue())
  (tmp_path / 'notes.txt').write_text('not an image')
  server = serve.make_server(str(tmp_path / 'model'), port=0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  browser = _browser()
  wait = _wait(browser, 120)
  try:
    browser.get(f'http://127.0.0.1:{server.server_address[1]}/')
    wait.until(lambda b: b.find_element(By.TAG_NAME, 'body').get_attribute(
        'data-ready') == 'true')
    assert not browser.find_element(By.ID, 'translate').get_attribute(
        'hidden')
    upload = browser.find_element(By.ID, 'upload')
    upload.send_keys(str(tmp_path / 'photo.png'))
    wait.until(lambda b: b.find_element(By.ID, 'translated-img')
               .get_attribute('src'))
    src = browser.find_element(By.ID, 'translated-img').get_attribute('src')
    assert src == 'data:image/png;base64,' + json.loads(out['body'])[
        'images'][0]
    browser.execute_script('document.getElementById("upload").accept = "";')
    upload.send_keys(str(tmp_path / 'notes.txt'))
    wait.until(lambda b: 'not a PNG or JPEG' in b.find_element(
        By.ID, 'error').text)
  finally:
    browser.quit()
    server.shutdown()


def test_package_runs_in_an_interpreter_without_site_packages(tmp_path,
                                                              cgan_run,
                                                              capsys):
  export.export(str(cgan_run), str(tmp_path / 'model'), batch=2)
  info = package.main(['--model', str(tmp_path / 'model'), '--out',
                       str(tmp_path / 'fn.zip')])
  assert 'within Lambda\'s 250 MB' in capsys.readouterr().out
  assert {'numpy', 'onnxruntime', 'PIL'} <= set(info['packages'])
  assert info['unzipped_bytes'] < info['limit']
  with zipfile.ZipFile(tmp_path / 'fn.zip') as z:
    names = set(z.namelist())
    assert {'handler.py', 'model/card.json', 'model/model.onnx'} <= names
    assert not any(n.startswith(('jax/', 'jaxgan/')) for n in names)
    z.extractall(tmp_path / 'fn')
  # -S: no site-packages; only the zip's contents and the standard library.
  code = ('import json, sys; sys.path.insert(0, "."); import handler; '
          'out = handler.handler({"seed": 1, "count": 3, "class": 4}); '
          'print(out["statusCode"], len(json.loads(out["body"])["images"]))')
  result = subprocess.run([sys.executable, '-S', '-c', code],
                          cwd=tmp_path / 'fn', capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split() == ['200', '3']
  with pytest.raises(FileNotFoundError, match='export a run first'):
    package.package(str(tmp_path), str(tmp_path / 'x.zip'))


# --- The page ----------------------------------------------------------------


def test_page_server_answers_the_page_card_model_and_api(tmp_path, cgan_run):
  from jaxgan import serve  # pylint: disable=g-import-not-at-top
  export.export(str(cgan_run), str(tmp_path / 'model'), batch=4)
  server = serve.make_server(str(tmp_path / 'model'), port=0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  url = f'http://127.0.0.1:{server.server_address[1]}'

  def get(path):
    with urllib.request.urlopen(url + path, timeout=60) as response:
      return response.read()

  def post(path, data: bytes):
    try:
      with urllib.request.urlopen(urllib.request.Request(url + path, data),
                                  timeout=60) as response:
        return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
      return e.code, json.loads(e.read())

  try:
    html = get('/').decode()
    assert 'window.JAXGAN_SERVER = true' in html
    for control in ('id="seed"', 'id="new-seed"', 'id="class"',
                    'id="interp"', 'id="direction"', 'id="upload"'):
      assert control in html
    assert json.loads(get('/card.json'))['num_classes'] == 10
    assert len(get('/model.onnx')) == os.path.getsize(
        tmp_path / 'model' / 'model.onnx')
    # The page's requests: latent rows with a class per row.
    rows = np.random.default_rng(0).standard_normal((3, 100)).tolist()
    status, body = post('/api', json.dumps(
        {'latent': rows, 'classes': [0, 5, 9]}).encode())
    assert status == 200 and len(body['images']) == 3
    assert body['classes'] == [0, 5, 9]
    assert post('/api', b'{"latent": [[1.0]], "classes": [1]}')[0] == 400
    assert post('/api', json.dumps({'latent': rows, 'classes': [0, 5]})
                .encode())[0] == 400
    assert post('/api', b'\xff\xfe not json')[0] == 400
    # Still answering after the bad requests.
    assert post('/api', b'{"seed": 1, "count": 2}')[0] == 200
  finally:
    server.shutdown()
  site = serve.write_static(str(tmp_path / 'model'), str(tmp_path / 'site'))
  assert sorted(p.name for p in site.iterdir()) == [
      'card.json', 'index.html', 'model.onnx']
  assert 'window.JAXGAN_SERVER = true' not in (site / 'index.html').read_text()


def _wait(browser, seconds):
  """WebDriverWait that retries when the page redraws an element it was
  reading (a grid re-rendered between finding an image and reading it)."""
  from selenium.common.exceptions import StaleElementReferenceException  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top
  return WebDriverWait(browser, seconds,
                       ignored_exceptions=(StaleElementReferenceException,))


def _browser():
  """Headless Chromium through Debian's chromium and chromium-driver
  (.ci/run installs them; nothing is downloaded at run time)."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  options.binary_location = shutil.which('chromium') or '/usr/bin/chromium'
  for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
              '--disable-dev-shm-usage', '--window-size=1100,1400'):
    options.add_argument(arg)
  service = Service(shutil.which('chromedriver') or '/usr/bin/chromedriver')
  return webdriver.Chrome(service=service, options=options)


def test_page_in_a_real_browser_draws_what_the_handler_draws(tmp_path,
                                                             cgan_run):
  from jaxgan import serve  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import Select  # pylint: disable=g-import-not-at-top
  export.export(str(cgan_run), str(tmp_path / 'model'), batch=4)
  model_dir = str(tmp_path / 'model')
  server = serve.make_server(model_dir, port=0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  browser = _browser()
  wait = _wait(browser, 120)

  def grid():
    from selenium.common.exceptions import StaleElementReferenceException  # pylint: disable=g-import-not-at-top
    for _ in range(10):  # The page may redraw the grid while it is read.
      try:
        return [img.get_attribute('src') for img in
                browser.find_elements(By.CSS_SELECTOR, '#grid img')]
      except StaleElementReferenceException:
        time.sleep(0.2)
    raise AssertionError('the grid kept changing while it was read')

  def handler_images(rows, classes):
    out = handler.handler({'latent': rows, 'classes': classes}, None,
                          model_dir)
    assert out['statusCode'] == 200, out
    return ['data:image/png;base64,' + png
            for png in json.loads(out['body'])['images']]

  def changed(element_id, before):
    wait.until(lambda b: b.find_element(By.ID, element_id).get_attribute(
        'src') not in (None, '', before))
    return browser.find_element(By.ID, element_id).get_attribute('src')

  try:
    browser.get(f'http://127.0.0.1:{server.server_address[1]}/')
    wait.until(lambda b: b.find_element(By.TAG_NAME, 'body').get_attribute(
        'data-ready') == 'true')
    assert browser.find_element(By.ID, 'error').text == ''
    first = grid()
    assert len(first) == 8 and len(set(first)) > 1
    # The page's latents through the handler: the same images.
    latents = browser.execute_script('return latents;')
    assert first == handler_images(latents, [i % 10 for i in range(8)])
    # New seed: the seed moves on and every sample changes.
    browser.find_element(By.ID, 'new-seed').click()
    wait.until(lambda b: grid() and grid()[0] != first[0])
    assert browser.find_element(By.ID, 'seed').get_attribute('value') == '1'
    second = grid()
    assert not set(second) & set(first)
    # One class for the whole grid.
    Select(browser.find_element(By.ID, 'class')).select_by_value('3')
    wait.until(lambda b: grid() and grid()[0] != second[0])
    latents = browser.execute_script('return latents;')
    assert grid() == handler_images(latents, [3] * 8)
    # The sliders: the interpolation and the direction images change.
    for slider, image, value in (('interp', 'interp-img', '0.9'),
                                 ('direction', 'direction-img', '2')):
      before = browser.find_element(By.ID, image).get_attribute('src')
      browser.execute_script(
          'const s = document.getElementById(arguments[0]);'
          's.value = arguments[1];'
          's.dispatchEvent(new Event("input"));', slider, value)
      changed(image, before)
    # At t = 1 the interpolation is the second sample.
    before = browser.find_element(By.ID, 'interp-img').get_attribute('src')
    browser.execute_script(
        'const s = document.getElementById("interp"); s.value = 1;'
        's.dispatchEvent(new Event("input"));')
    assert changed('interp-img', before) == grid()[1]
    assert browser.find_element(By.ID, 'error').text == ''
    # A bad count is reported on the page, not a crash.
    browser.execute_script('document.getElementById("count").value = 99;')
    browser.find_element(By.ID, 'draw').click()
    wait.until(lambda b: '2 to 64' in b.find_element(By.ID, 'error').text)
    if os.environ.get('JAXGAN_PAGE_SCREENSHOT'):
      browser.execute_script('document.getElementById("count").value = 8;')
      browser.find_element(By.ID, 'draw').click()
      wait.until(lambda b: b.find_element(By.ID, 'error').text == '')
      browser.save_screenshot(os.environ['JAXGAN_PAGE_SCREENSHOT'])
  finally:
    browser.quit()
    server.shutdown()


ORT_WEB = os.environ.get('JAXGAN_ORT_WEB_DIR', os.path.join(
    ROOT, '.node', 'node_modules', 'onnxruntime-web', 'dist'))


def test_static_page_runs_the_model_in_the_browser(tmp_path, cgan_run):
  """The static site (`--write_static`) on a plain file server: the model
  runs in Chromium with onnxruntime-web, and draws what the handler draws
  for the page's latents (to one grey level: WebAssembly's float order)."""
  import functools  # pylint: disable=g-import-not-at-top
  from http import server as http_server  # pylint: disable=g-import-not-at-top
  from jaxgan import serve  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  assert os.path.exists(os.path.join(ORT_WEB, 'ort.min.js')), (
      f'{ORT_WEB} lacks onnxruntime-web: npm install --prefix .node '
      'onnxruntime-web@1.31.1 (README "Install")')
  export.export(str(cgan_run), str(tmp_path / 'model'), batch=4)
  site = serve.write_static(str(tmp_path / 'model'), str(tmp_path / 'site'),
                            ORT_WEB)
  assert 'ort-wasm-simd-threaded.wasm' in {p.name for p in site.iterdir()}
  files = http_server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(
          http_server.SimpleHTTPRequestHandler, directory=str(site)))
  threading.Thread(target=files.serve_forever, daemon=True).start()
  browser = _browser()
  try:
    browser.get(f'http://127.0.0.1:{files.server_address[1]}/')
    _wait(browser, 180).until(
        lambda b: b.find_element(By.TAG_NAME, 'body').get_attribute(
            'data-ready') == 'true' or b.find_element(By.ID, 'error').text)
    assert browser.find_element(By.ID, 'error').text == ''
    assert 'run in this browser' in browser.find_element(By.ID, 'about').text
    srcs = [img.get_attribute('src') for img in
            browser.find_elements(By.CSS_SELECTOR, '#grid img')]
    latents = browser.execute_script('return latents;')
  finally:
    browser.quit()
    files.shutdown()
  out = handler.handler({'latent': latents,
                         'classes': [i % 10 for i in range(8)]}, None,
                        str(tmp_path / 'model'))
  want = json.loads(out['body'])['images']
  assert len(srcs) == len(want) == 8
  for src, png in zip(srcs, want):
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        src.split(',', 1)[1]))).convert('L'), np.int32)
    assert np.abs(got - _pixels(png).astype(np.int32)).max() <= 1


def test_course_config_trains_exports_and_serves_100x100(tmp_path):
  """configs/course.py: the DCGAN at 100x100 RGB on a folder (grey images
  read as RGB), through training, export and the page's server."""
  from jaxgan import serve  # pylint: disable=g-import-not-at-top
  folder = tmp_path / 'cars'
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(8):
    Image.fromarray(rng.integers(0, 256, (112, 92), np.uint8)).save(
        folder / f'{i}.png')
  config = cli.load_config_file(os.path.join(ROOT, 'configs', 'course.py'))
  assert config.data.data_dir == 'data/cifar10/train/automobile'
  config.data.data_dir = str(folder)
  config.model.g_features = config.model.d_features = 4
  config.train.batch_size = 4
  config.train.num_steps = 1
  config.sample_every = 0
  train.train_and_evaluate(config, tmp_path / 'run', ONE)
  card = export.export(str(tmp_path / 'run'), str(tmp_path / 'model'),
                       batch=2, ema=True)
  assert card['output']['shape'] == [2, 100, 100, 3]
  out = handler.handler({'seed': 0, 'count': 2}, None,
                        str(tmp_path / 'model'))
  images = [_pixels(png) for png in json.loads(out['body'])['images']]
  assert [image.shape for image in images] == [(100, 100, 3)] * 2
  server = serve.make_server(str(tmp_path / 'model'), port=0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    with urllib.request.urlopen(
        f'http://127.0.0.1:{server.server_address[1]}/card.json',
        timeout=60) as response:
      assert json.loads(response.read())['output']['shape'][1:] == [
          100, 100, 3]
  finally:
    server.shutdown()
  # The same 640 epochs for the 2,000 cars and ORL's 400 faces.
  course = os.path.join(ROOT, 'configs', 'course.py')
  for arg, examples, data_dir in (('cars', 2_000, 'cifar10/train/automobile'),
                                  ('orl', 400, 'orl/att_faces')):
    cfg = cli.load_config_file(f'{course}:{arg}')
    assert cfg.data.data_dir == 'data/' + data_dir
    assert cfg.train.num_steps * cfg.train.batch_size == 640 * examples
  with pytest.raises(ValueError, match='one of'):
    cli.load_config_file(os.path.join(ROOT, 'configs', 'course.py') +
                         ':trucks')
