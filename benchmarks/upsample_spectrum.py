r"""The checkerboard of transposed convolutions, measured (Odena et al. 2016).

  python -m benchmarks.upsample_spectrum [--config=configs/dcgan.py] \
      [--steps=20,200,1000] [--samples=2000] \
      [--upsamples=transposed,nearest] [--out=runs/upsample_spectrum] \
      [--figure=docs/upsample_spectrum.png]

trains the same GAN (config, seed) once per `model.upsample`, checkpointed
at each of --steps (one run resumed from step to step, which equals an
unbroken one), draws --samples from the generator at each of those steps
and writes, one row per step, the mean power spectrum of each
(`jaxgan.metrics.power_spectrum`; log scale, zero frequency in the
centre, so the period-2 checkerboard shows at the edges' midpoints and
corners) beside that of as many real training images, and
OUT/spectrum.json: per upsampling and step the checkerboard ratio
(`metrics.checkerboard_ratio`: the Nyquist frequencies' power over their
neighbours', about 1 without a checkerboard). Rerunning resumes.
"""

import json
import os

from absl import app
from absl import flags
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxgan import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import input_pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import sample  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import train  # pylint: disable=g-import-not-at-top,wrong-import-position

_CONFIG = flags.DEFINE_string('config', 'configs/dcgan.py', 'Config file[:arg].')
_STEPS = flags.DEFINE_list('steps', ['20', '200', '1000'],
                           'Steps at which the spectra are taken.')
_SAMPLES = flags.DEFINE_integer('samples', 2000, 'Samples per spectrum.')
_UPSAMPLES = flags.DEFINE_list('upsamples', ['transposed', 'nearest'],
                               'model.upsample values to compare.')
_OUT = flags.DEFINE_string('out', 'runs/upsample_spectrum', 'Runs and JSON.')
_FIGURE = flags.DEFINE_string('figure', 'docs/upsample_spectrum.png',
                              'The figure.')


def centred_log(spectrum):
  return np.log10(np.fft.fftshift(spectrum) + 1e-12)


def main(argv):
  del argv
  os.makedirs(_OUT.value, exist_ok=True)
  steps = sorted(int(v) for v in _STEPS.value)
  result = {'config': _CONFIG.value, 'samples': _SAMPLES.value, 'runs': {}}
  spectra = {}  # (upsample, step) -> (spectrum, samples)
  config = None
  for upsample in _UPSAMPLES.value:
    workdir = os.path.join(_OUT.value, upsample)
    for step in steps:
      config = cli.load_config_file(_CONFIG.value)
      config.model.upsample = upsample
      config.train.num_steps = step
      config.eval_every = 0
      config.keep_checkpoints = len(steps) + 1
      train.train_and_evaluate(config, workdir)
      generator = sample.load(workdir, step)
      z = sample.noise(generator, _SAMPLES.value, seed=1)
      images = np.concatenate([generator(z[i:i + 500])
                               for i in range(0, len(z), 500)])
      spectrum = metrics.power_spectrum(images)
      result['runs'].setdefault(upsample, {})[step] = (
          metrics.checkerboard_ratio(spectrum))
      spectra[upsample, step] = (spectrum, images[:4])
  data = input_pipeline.create_dataset(config)
  real, _ = data.fetch(np.arange(min(_SAMPLES.value, data.num_examples)))
  real_spectrum = metrics.power_spectrum(real.astype(np.float64) / 127.5 - 1)
  result['real_images'] = metrics.checkerboard_ratio(real_spectrum)
  result['data'] = data.name
  with open(os.path.join(_OUT.value, 'spectrum.json'), 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result, indent=1))

  columns = len(_UPSAMPLES.value)
  fig, axes = plt.subplots(len(steps), 2 * columns + 1,
                           figsize=(2.2 * (2 * columns + 1), 2.4 * len(steps)),
                           squeeze=False)
  for row, step in enumerate(steps):
    for col, upsample in enumerate(_UPSAMPLES.value):
      spectrum, images = spectra[upsample, step]
      ax = axes[row, 2 * col]
      ax.imshow(centred_log(spectrum), cmap='magma')
      ax.set_title(f'{upsample}, step {step}\nratio '
                   f'{metrics.checkerboard_ratio(spectrum):.2f}', fontsize=8)
      ax = axes[row, 2 * col + 1]
      grid = np.concatenate([np.concatenate(list(images[:2]), 1),
                             np.concatenate(list(images[2:4]), 1)], 0)
      ax.imshow((grid[..., 0] + 1) / 2 if grid.shape[-1] == 1 else
                (grid + 1) / 2, cmap='gray', vmin=0, vmax=1)
    ax = axes[row, -1]
    ax.imshow(centred_log(real_spectrum), cmap='magma')
    ax.set_title(f'real images\nratio {result["real_images"]:.2f}',
                 fontsize=8)
  for ax in axes.ravel():
    ax.axis('off')
  fig.suptitle(f'Mean power spectra (log10) of {_SAMPLES.value} samples, '
               f'{_CONFIG.value} on {data.name}', fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(_FIGURE.value)), exist_ok=True)
  fig.savefig(_FIGURE.value, dpi=80)
  print('Wrote', _FIGURE.value)


if __name__ == '__main__':
  cli.run(main)
