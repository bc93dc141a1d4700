"""The families: one module per training shape, chosen by `config.family`.

  gan      the noise GAN: one generator from noise, one critic (families/gan.py)
  paired   paired image-to-image translation (families/paired/): pix2pix,
           super-resolution, inpainting; each task's data, masks and
           evaluation live in that package
  unpaired unpaired translation (families/unpaired/): CycleGAN
  series   time-series anomaly detection (families/series/): TadGAN
  progressive  progressive growing (families/progressive/): ProGAN

docs/families.md describes the interface (`base.Family`) and how the later
families (super-resolution and inpainting, CycleGAN, TadGAN, progressive
growing) map onto it.
"""

import importlib

from jaxgan import errors

# The family of a config or checkpoint that names none: every run saved
# before families existed is a noise GAN.
DEFAULT = 'gan'

# name -> (module, class): an explicit table, imported on first use.
FAMILIES = {
    'gan': ('jaxgan.families.gan', 'GAN'),
    'paired': ('jaxgan.families.paired', 'Paired'),
    'unpaired': ('jaxgan.families.unpaired', 'Unpaired'),
    'series': ('jaxgan.families.series', 'Series'),
    'progressive': ('jaxgan.families.progressive', 'Progressive'),
}

# `python -m jaxgan.evaluate NAME` -> the module (define_flags(),
# command(flags)) of a family task's own evaluation protocol.
COMMANDS = {
    'sr': 'jaxgan.families.paired.sr_eval',  # PSNR/SSIM on Y of a set.
    'inpaint': 'jaxgan.families.paired.inpaint_eval',  # Hole L1/L2/PSNR, FID.
    # FID/KID, cycle L1 and success rate per direction of a CycleGAN run.
    'unpaired': 'jaxgan.families.unpaired.evaluation',
    # The classifier of an unpaired dataset's two domains (success rates).
    'domain-classifier': 'jaxgan.families.unpaired.domain_classifier',
    # FID (with --ref), SWD per level and MS-SSIM of a progressive run.
    'progressive': 'jaxgan.families.progressive.evaluation',
}


def of(config) -> str:
  """The family a config (a ConfigDict or a saved config's dict) trains."""
  return config.get('family', DEFAULT)


def get(name: str):
  """The Family class that `config.family = name` selects."""
  if name not in FAMILIES:
    raise errors.ConfigError(f'unknown config.family {name!r}: use one of '
                             f'{sorted(FAMILIES)}')
  module, cls = FAMILIES[name]
  return getattr(importlib.import_module(module), cls)
