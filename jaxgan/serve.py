r"""A page for an exported generator: samples, a new seed, the class, an
interpolation slider, a latent direction, or your own image translated.

  python -m jaxgan.export --workdir=runs/cgan --out=exported/cgan
  python -m jaxgan.serve --model=exported/cgan [--port=8000]
  # The same page as static files for any web host (the model runs in the
  # browser with onnxruntime-web; its ort.min.js and .wasm files from the
  # npm package onnxruntime-web's dist/ go beside it, --ort_dir copies them):
  python -m jaxgan.serve --model=exported/cgan --write_static=site \
      [--ort_dir=node_modules/onnxruntime-web/dist]

Served here, the page asks this server, whose POST /api is the serverless
handler (`jaxgan/serving/handler.py`) on the same model: a bad request gets
its 400 and the server goes on answering. The page draws its latents from
its own seeded generator and sends them, so a page, the handler and the
static page draw the same images for the same seed.
"""

import argparse
import json
import pathlib
import shutil
import sys

from jaxgan.serving import handler

PAGE = pathlib.Path(__file__).with_name('serving') / 'page.html'


def page(server: bool) -> bytes:
  html = PAGE.read_text()
  if server:
    html = html.replace('<script src="ort.min.js"',
                        '<script>window.JAXGAN_SERVER = true;</script>\n'
                        '<script src="ort.min.js"', 1)
  return html.encode()


def write_static(model_dir: str, out: str, ort_dir: str | None = None):
  """The page, card.json, the model and (from ort_dir) onnxruntime-web's
  files in `out`, for a static web host."""
  model = pathlib.Path(model_dir)
  card = json.loads((model / 'card.json').read_text())
  target = pathlib.Path(out)
  target.mkdir(parents=True, exist_ok=True)
  (target / 'index.html').write_bytes(page(server=False))
  shutil.copy(model / 'card.json', target / 'card.json')
  shutil.copy(model / card['file'], target / card['file'])
  if ort_dir:
    # ort.min.js and the WebAssembly backends it loads.
    files = [p for p in pathlib.Path(ort_dir).iterdir()
             if p.name == 'ort.min.js' or (
                 p.name.startswith('ort-wasm-simd-threaded') and
                 p.suffix in ('.mjs', '.wasm'))]
    if not any(p.name == 'ort.min.js' for p in files):
      raise FileNotFoundError(f'{ort_dir} has no ort.min.js: pass the dist/ '
                              'folder of the npm package onnxruntime-web')
    for path in files:
      shutil.copy(path, target / path.name)
  return target


def make_server(model_dir: str, port: int = 8000, host: str = '127.0.0.1'):
  """The page's server (serve_forever to run): GET / (the page), GET
  /card.json, GET /<model file>, POST /api (the handler)."""
  from http import server  # pylint: disable=g-import-not-at-top
  model = pathlib.Path(model_dir)
  handler.model(str(model))  # A broken export fails here, not per request.
  card = json.loads((model / 'card.json').read_text())
  files = {'/card.json': (model / 'card.json', 'application/json'),
           f'/{card["file"]}': (model / card['file'],
                                'application/octet-stream')}

  class Page(server.BaseHTTPRequestHandler):

    def _send(self, status: int, data: bytes, kind: str):
      self.send_response(status)
      self.send_header('Content-Type', kind)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_GET(self):  # pylint: disable=invalid-name
      path = self.path.split('?')[0]
      if path in ('/', '/index.html'):
        self._send(200, page(server=True), 'text/html; charset=utf-8')
      elif path in files:
        file, kind = files[path]
        self._send(200, file.read_bytes(), kind)
      else:
        self._send(404, b'not found', 'text/plain')

    def do_POST(self):  # pylint: disable=invalid-name
      if self.path.split('?')[0] != '/api':
        self._send(404, b'not found', 'text/plain')
        return
      length = int(self.headers.get('Content-Length') or 0)
      if length > 2 * handler.MAX_IMAGE_BYTES:
        out = handler.respond(413, {'error': 'request over 16 MB'})
      else:
        body = self.rfile.read(length).decode('utf-8', 'replace')
        try:
          out = handler.handler({'body': body}, None, str(model))
        except Exception as e:  # pylint: disable=broad-except
          out = handler.respond(500, {'error': f'{type(e).__name__}: {e}'})
      self._send(out['statusCode'], out['body'].encode(), 'application/json')

    def log_message(self, *args):  # pylint: disable=arguments-differ
      pass

  return server.ThreadingHTTPServer((host, port), Page)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', required=True, help='an export folder')
  parser.add_argument('--port', type=int, default=8000)
  parser.add_argument('--host', default='127.0.0.1')
  parser.add_argument('--write_static', help='write the static site here '
                      'instead of serving')
  parser.add_argument('--ort_dir', help='onnxruntime-web\'s dist/ folder')
  args = parser.parse_args(argv)
  if args.write_static:
    out = write_static(args.model, args.write_static, args.ort_dir)
    print(f'{out}/index.html: the page, its card and model'
          + ('' if args.ort_dir else '; add onnxruntime-web\'s ort.min.js '
             'and .wasm files beside it (--ort_dir)'))
    return
  httpd = make_server(args.model, args.port, args.host)
  print(f'http://{args.host}:{httpd.server_address[1]}/ (model '
        f'{args.model}); Ctrl-C stops', file=sys.stderr)
  try:
    httpd.serve_forever()
  except KeyboardInterrupt:
    pass


if __name__ == '__main__':
  main()
