r"""A serverless package: the handler, the exported model and the Python
packages the handler imports, as one zip.

  python -m jaxgan.serving.package --model=exported/dcgan \
      --out=dcgan_lambda.zip [--no_deps]

The zip holds handler.py at its root (AWS Lambda: handler `handler.handler`,
Python 3.11 on the architecture of this machine), model/ (card.json and
model.onnx) and every third-party package that importing the handler loads
here (onnxruntime, numpy, Pillow and what they import, with their bundled
libraries), found by importing it in a fresh interpreter. It prints the
unzipped size against Lambda's 250 MB limit (code and layers, unzipped);
--no_deps leaves the packages out (for a Lambda layer of your own).
"""

import argparse
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import zipfile

LAMBDA_UNZIPPED_LIMIT = 250 * 10**6
HANDLER = pathlib.Path(__file__).with_name('handler.py')


def imported_packages() -> list[pathlib.Path]:
  """The site-packages folders and files behind the third-party modules
  that `import handler` loads in a fresh interpreter, with the bundled
  shared libraries beside them (numpy.libs, pillow.libs, ...)."""
  code = ('import json, sys; sys.path.insert(0, sys.argv[1]); '
          'before = set(sys.modules); import handler; '
          'print(json.dumps({n: getattr(m, "__file__", None) for n, m in '
          'list(sys.modules.items()) if "." not in n and n not in before}))')
  result = subprocess.run([sys.executable, '-c', code, str(HANDLER.parent)],
                          capture_output=True, text=True, check=True)
  modules = json.loads(result.stdout.strip().splitlines()[-1])
  dists = importlib.metadata.packages_distributions()
  paths = set()
  for name, file in modules.items():
    if (not file or name in sys.stdlib_module_names or name == 'handler' or
        'site-packages' not in file):
      continue
    path = pathlib.Path(file)
    top = path.parent if path.name == '__init__.py' else path
    paths.add(top)
    site = top.parent
    for dist in {name, *dists.get(name, ())}:
      for libs in site.glob(f'{dist.lower()}*.libs'):
        paths.add(libs)
      for libs in site.glob(f'{dist}*.libs'):
        paths.add(libs)
  return sorted(paths)


def _files(root: pathlib.Path):
  if root.is_file():
    yield root, root.name
    return
  for path in sorted(root.rglob('*')):
    if path.is_file() and '__pycache__' not in path.parts:
      yield path, str(pathlib.Path(root.name) / path.relative_to(root))


def package(model_dir: str, out: str, deps: bool = True) -> dict:
  """Writes the zip; returns {'zip_bytes', 'unzipped_bytes', 'model_bytes',
  'packages', 'limit'}."""
  model = pathlib.Path(model_dir)
  card_path = model / 'card.json'
  if not card_path.exists():
    raise FileNotFoundError(f'{model_dir} has no card.json: export a run '
                            'first (python -m jaxgan.export --workdir=RUN '
                            f'--out={model_dir})')
  card = json.loads(card_path.read_text())
  if card.get('format') != 'onnx':
    raise ValueError(f'{model_dir} holds a {card.get("format")!r} export; '
                     'the handler runs ONNX: export with --format=onnx')
  entries = [(HANDLER, 'handler.py'), (card_path, 'model/card.json'),
             (model / card['file'], f'model/{card["file"]}')]
  packages = imported_packages() if deps else []
  for root in packages:
    entries.extend(_files(root))
  unzipped = model_bytes = 0
  with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    for path, name in entries:
      z.write(path, name)
      size = path.stat().st_size
      unzipped += size
      if name.startswith('model/'):
        model_bytes += size
  return {'zip_bytes': os.path.getsize(out), 'unzipped_bytes': unzipped,
          'model_bytes': model_bytes, 'limit': LAMBDA_UNZIPPED_LIMIT,
          'packages': [p.name for p in packages]}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', required=True, help='an export folder')
  parser.add_argument('--out', required=True, help='the zip to write')
  parser.add_argument('--no_deps', action='store_true')
  args = parser.parse_args(argv)
  info = package(args.model, args.out, not args.no_deps)
  mb = lambda n: f'{n / 1e6:.1f} MB'  # pylint: disable=unnecessary-lambda-assignment
  verdict = ('within' if info['unzipped_bytes'] <= info['limit']
             else 'OVER')
  print(f'{args.out}: {mb(info["zip_bytes"])} zipped, '
        f'{mb(info["unzipped_bytes"])} unzipped ({mb(info["model_bytes"])} '
        f'of it the model), {verdict} Lambda\'s 250 MB unzipped limit; '
        f'packages: {", ".join(info["packages"]) or "none (--no_deps)"}')
  return info


if __name__ == '__main__':
  main()
