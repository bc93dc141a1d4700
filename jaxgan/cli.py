"""How jaxgan's programs start: quiet logs, readable errors.

Every `python -m jaxgan.X` calls `run(main)` instead of
`absl.app.run(main)`. By default a program shows jaxgan's own log lines,
warnings from anyone, and its progress bar; the INFO chatter of Orbax and of
JAX's backend search is hidden (and training writes TensorBoard files
without importing TensorFlow, whose C++ notices ignore every log setting). `--verbosity=1` (absl's flag) shows everything and the tracebacks of
user errors; so does the environment variable JAXGAN_TRACEBACK=1 for the
tracebacks alone.

A user error (`errors.UserError`, or an unknown config key on the command
line) is printed as `jaxgan: error: ...` and exits with status 1; any other
exception is a bug and keeps its traceback.
"""

import difflib
import logging as std_logging
import os
import re
import sys

from absl import app
from absl import flags
from absl import logging

from jaxgan import errors

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
TRACEBACK_ENV = 'JAXGAN_TRACEBACK'


class _OwnLinesFilter(std_logging.Filter):
  """Passes warnings from anyone, and jaxgan's own INFO lines."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING or
            os.path.abspath(record.pathname).startswith(_PACKAGE_DIR))


_FILTER = _OwnLinesFilter()


def quiet_logs(verbose: bool):
  """At INFO, only jaxgan's own lines (and every warning) unless `verbose`."""
  handler = logging.get_absl_handler()
  handler.removeFilter(_FILTER)
  if not verbose:
    if logging.get_verbosity() < logging.INFO:
      logging.set_verbosity(logging.INFO)
    handler.addFilter(_FILTER)


def _config_overrides(argv) -> list[str]:
  return [m.group(1) for arg in argv
          if (m := re.match(r'--?(?:no)?config\.([\w.]+)', arg))]


def _config_spec(argv) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def load_config_file(spec: str):
  """`path[:arg]` of --config -> the ConfigDict its get_config returns."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('_jaxgan_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def unknown_key_message(config, path: str) -> str | None:
  """'config.a.b' is not in `config` -> a message with the closest keys;
  None when the path exists."""
  node, walked = config, 'config'
  for part in path.split('.'):
    keys = list(node.keys()) if hasattr(node, 'keys') else []
    if part not in keys:
      close = difflib.get_close_matches(part, keys, n=3, cutoff=0.6)
      hint = (f'did you mean {" or ".join(f"{walked}.{c}" for c in close)}?'
              if close else f'{walked} has: {", ".join(sorted(keys))}')
      if not keys:
        hint = f'{walked} is a value, not a section'
      return f'unknown config key {walked}.{part} (from --config.{path}); {hint}'
    node, walked = node[part], f'{walked}.{part}'
  return None


def _parse_flags(argv):
  """absl's flag parsing, with unknown config keys as a readable error."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _exit(f'{e}\nPass --helpfull to see the flags.', 2)
  except (AttributeError, KeyError) as e:
    spec = _config_spec(argv)
    if spec is None or os.environ.get(TRACEBACK_ENV) == '1':
      raise
    try:
      config = load_config_file(spec)
    except Exception:  # pylint: disable=broad-except
      raise e from None
    for path in _config_overrides(argv):
      message = unknown_key_message(config, path)
      if message:
        _exit(message)
    raise


def _exit(message: str, status: int = 1):
  print(f'jaxgan: error: {message}', file=sys.stderr)
  sys.exit(status)


def _show_traceback() -> bool:
  return (os.environ.get(TRACEBACK_ENV) == '1' or
          logging.get_verbosity() >= logging.DEBUG)


def run(main):
  """absl.app.run(main) with quiet logs and user errors as plain lines."""

  def wrapped(argv):
    quiet_logs(verbose=logging.get_verbosity() >= logging.DEBUG)
    try:
      return main(argv)
    except errors.UserError as e:
      if _show_traceback():
        raise
      _exit(f'{e}\n(For the traceback: --verbosity=1 or {TRACEBACK_ENV}=1.)')

  app.run(wrapped, flags_parser=_parse_flags)
