r"""An AWS-Lambda-style handler for an exported generator.

Depends on onnxruntime, numpy and Pillow only (no JAX, no jaxgan): it is
the file a serverless package carries beside the model
(`python -m jaxgan.serving.package`). The model folder is
$JAXGAN_MODEL_DIR, or `model/` beside this file: `card.json` and the
`model.onnx` that `python -m jaxgan.export` wrote.

Request (the event itself, or an HTTP event's JSON `body`):
  noise models   {"seed": 0, "count": 8, "class": 3}, or {"latent":
                 [[...], ...]} (rows of the card's latent size);
                 "class" for a conditional model (default: cycling), or
                 "classes", one per row
  translation    {"image": "<base64 PNG or JPEG>"}: resized to the
                 model's input side, translated
Response: {"statusCode": 200, "body": JSON {"images": [base64 PNG, ...],
"width", "height", and "seed", "classes" for noise models}}; a bad
request gets 400 with {"error": what is wrong and what to send}. Latents
from a seed are numpy's `default_rng(seed).standard_normal`, row by row.

  # A local HTTP shim (POST the request JSON to /): the same handler.
  python -m jaxgan.serving.handler --model=exported/dcgan --port=8080
"""

import base64
import io
import json
import os
import sys

import numpy as np
import onnxruntime
from PIL import Image

MAX_COUNT = 64
MAX_IMAGE_BYTES = 8 * 2**20
_MODELS: dict[str, 'Model'] = {}


class BadRequest(ValueError):
  """A request the model cannot answer; the message says what to send."""


class Model:
  """card.json and the ONNX session of one exported generator."""

  def __init__(self, folder: str):
    with open(os.path.join(folder, 'card.json')) as f:
      self.card = json.load(f)
    if self.card.get('format') != 'onnx':
      raise ValueError(f'{folder}: the handler runs ONNX exports; this is '
                       f'{self.card.get("format")!r} (export again with '
                       '--format=onnx)')
    self.session = onnxruntime.InferenceSession(
        os.path.join(folder, self.card['file']),
        providers=['CPUExecutionProvider'])
    self.inputs = {i['name']: i for i in self.card['inputs']}
    self.batch = int(self.card['batch'])
    first = self.card['inputs'][0]
    self.noise = first['name'] == 'z'

  def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Any number of rows, in chunks of the artifact's batch (the last
    padded by repetition)."""
    n = len(next(iter(feeds.values())))
    outs = []
    for start in range(0, n, self.batch):
      chunk = {k: v[start:start + self.batch] for k, v in feeds.items()}
      rows = len(next(iter(chunk.values())))
      if rows < self.batch:
        chunk = {k: np.concatenate([v, np.repeat(v[-1:], self.batch - rows,
                                                 0)]) for k, v in chunk.items()}
      outs.append(self.session.run(None, chunk)[0][:rows])
    return np.concatenate(outs)


def model(folder: str | None = None) -> Model:
  folder = folder or os.environ.get('JAXGAN_MODEL_DIR') or os.path.join(
      os.path.dirname(os.path.abspath(__file__)), 'model')
  if folder not in _MODELS:
    _MODELS[folder] = Model(folder)
  return _MODELS[folder]


def to_png(image: np.ndarray) -> str:
  """One output in [-1, 1] (H, W, C) -> base64 PNG."""
  pixels = np.clip(np.round((image + 1.0) * 127.5), 0, 255).astype(np.uint8)
  if pixels.shape[-1] == 1:
    pixels = pixels[..., 0]
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format='PNG')
  return base64.b64encode(buffer.getvalue()).decode('ascii')


def _integer(request: dict, key: str, default: int) -> int:
  value = request.get(key, default)
  if isinstance(value, bool) or not isinstance(value, int):
    raise BadRequest(f'"{key}" must be an integer, not {value!r}')
  return value


def noise_feeds(m: Model, request: dict) -> tuple[dict, dict]:
  latent = m.inputs['z']['shape'][1]
  extra = {}
  if 'latent' in request:
    z = np.asarray(request['latent'], np.float32)
    if z.ndim != 2 or z.shape[1] != latent or not 0 < len(z) <= MAX_COUNT:
      raise BadRequest(f'"latent" must be 1 to {MAX_COUNT} rows of '
                       f'{latent} numbers; got shape {list(z.shape)}')
    if not np.all(np.isfinite(z)):
      raise BadRequest('"latent" holds a NaN or an infinity')
  else:
    seed = _integer(request, 'seed', 0)
    count = _integer(request, 'count', 8)
    if not 0 < count <= MAX_COUNT:
      raise BadRequest(f'"count" must be 1 to {MAX_COUNT}; got {count}')
    if seed < 0:
      raise BadRequest(f'"seed" must be 0 or more; got {seed}')
    z = np.random.default_rng(seed).standard_normal(
        (count, latent)).astype(np.float32)
    extra['seed'] = seed
  feeds = {'z': z}
  if 'labels' in m.inputs:
    classes = m.inputs['labels']['classes']
    if 'classes' in request:
      labels = request['classes']
      if (not isinstance(labels, list) or len(labels) != len(z) or
          not all(isinstance(k, int) and not isinstance(k, bool) and
                  0 <= k < classes for k in labels)):
        raise BadRequest(f'"classes" must be one class (0 to {classes - 1}) '
                         f'per latent row ({len(z)})')
      labels = np.asarray(labels, np.int32)
    elif 'class' in request:
      label = _integer(request, 'class', 0)
      if not 0 <= label < classes:
        raise BadRequest(f'"class" {label}: this model has classes 0 to '
                         f'{classes - 1}')
      labels = np.full(len(z), label, np.int32)
    else:
      labels = (np.arange(len(z)) % classes).astype(np.int32)
    feeds['labels'] = labels
    extra['classes'] = labels.tolist()
  elif 'class' in request or 'classes' in request:
    raise BadRequest('"class": this model is unconditional (no classes)')
  return feeds, extra


def image_feeds(m: Model, request: dict) -> tuple[dict, dict]:
  if 'holes' in m.inputs:
    raise BadRequest('inpainting models are served by the page (they need '
                     'a hole drawn on the image)')
  if 'image' not in request:
    raise BadRequest('this model translates images: send {"image": '
                     '"<base64 PNG or JPEG>"}')
  if len(request['image']) > MAX_IMAGE_BYTES * 4 // 3 + 4:
    raise BadRequest(f'"image" is over {MAX_IMAGE_BYTES // 2**20} MB')
  try:
    data = base64.b64decode(request['image'], validate=True)
    image = Image.open(io.BytesIO(data))
    image.load()
  except Exception as e:  # pylint: disable=broad-except
    raise BadRequest(f'"image" is not a base64 PNG or JPEG ({e})') from e
  spec = next(iter(m.inputs.values()))
  height, width, channels = spec['shape'][1:]
  image = image.convert('L' if channels == 1 else 'RGB').resize(
      (width, height), Image.BICUBIC)
  pixels = np.asarray(image, np.float32).reshape(1, height, width,
                                                 channels)
  return {spec['name']: pixels / 127.5 - 1.0}, {}


def respond(status: int, payload: dict) -> dict:
  return {'statusCode': status,
          'headers': {'Content-Type': 'application/json',
                      'Access-Control-Allow-Origin': '*'},
          'body': json.dumps(payload)}


def handler(event, context=None, model_dir: str | None = None) -> dict:
  """The Lambda entry point: event -> {'statusCode', 'headers', 'body'}."""
  del context
  try:
    request = event
    if isinstance(event, dict) and 'body' in event:
      body = event['body'] or '{}'
      if event.get('isBase64Encoded'):
        body = base64.b64decode(body).decode()
      request = json.loads(body)
    if not isinstance(request, dict):
      raise BadRequest('the request must be a JSON object')
    m = model(model_dir)
    feeds, extra = (noise_feeds if m.noise else image_feeds)(m, request)
    images = m.run(feeds)
  except BadRequest as e:
    return respond(400, {'error': str(e)})
  except json.JSONDecodeError as e:
    return respond(400, {'error': f'the body is not JSON ({e})'})
  return respond(200, {'images': [to_png(x) for x in images],
                       'height': int(images.shape[1]),
                       'width': int(images.shape[2]), **extra})


def serve_http(model_dir: str, port: int = 8080, host: str = '127.0.0.1'):
  """A local HTTP shim: POST / with the request JSON, as API Gateway would
  hand it to the handler. Returns the server (serve_forever to run)."""
  from http import server  # pylint: disable=g-import-not-at-top

  class Shim(server.BaseHTTPRequestHandler):

    def do_POST(self):  # pylint: disable=invalid-name
      length = int(self.headers.get('Content-Length') or 0)
      if length > 2 * MAX_IMAGE_BYTES:
        out = respond(413, {'error': 'request over 16 MB'})
      else:
        body = self.rfile.read(length).decode('utf-8', 'replace')
        out = handler({'body': body}, None, model_dir)
      data = out['body'].encode()
      self.send_response(out['statusCode'])
      for key, value in out['headers'].items():
        self.send_header(key, value)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def log_message(self, *args):  # pylint: disable=arguments-differ
      pass

  return server.ThreadingHTTPServer((host, port), Shim)


if __name__ == '__main__':
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', required=True)
  parser.add_argument('--port', type=int, default=8080)
  args = parser.parse_args()
  httpd = serve_http(args.model, args.port)
  print(f'POST http://127.0.0.1:{args.port}/ (model {args.model})',
        file=sys.stderr)
  httpd.serve_forever()
