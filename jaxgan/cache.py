"""Where jaxgan keeps what it makes once per machine: converted weights and
the convolution forms measured on this CPU."""

import os


def directory() -> str:
  """$JAXGAN_CACHE, else ~/.cache/jaxgan."""
  return os.environ.get('JAXGAN_CACHE',
                        os.path.join(os.path.expanduser('~'), '.cache',
                                     'jaxgan'))
