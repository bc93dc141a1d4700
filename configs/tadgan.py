r"""TadGAN (Geiger et al. 2020) with Orion's `tadgan` pipeline settings
(`jaxgan/families/series/`): windows of 100, latent 20, E BiLSTM(100), G
BiLSTM(64) x 2 with dropout 0.2, Cx four 1-D convolutions of 64, Cz two
dense layers of 20, WGAN-GP (10) on both critics, 5 critic steps per
generator step, the cycle term weighted 10, Adam 5e-4, batch 64, 35 epochs;
detection with DTW reconstruction errors and a fixed threshold per window.

  # A NAB signal (the group sets Orion's interval and score combination):
  python -m jaxgan.main --config=configs/tadgan.py:nab \
      --config.data.signal=artificialWithAnomaly/art_daily_jumpsup.csv \
      --workdir=runs/tadgan_art_daily_jumpsup
  # Any CSV with timestamp and value columns (labels optional):
  python -m jaxgan.main --config=configs/tadgan.py \
      --config.data.csv=PATH.csv [--config.data.labels=LABELS.csv] \
      --config.data.interval=SECONDS --workdir=runs/my_signal

`:nab` reads NAB from ../shared/data/nab (set --config.data.data_dir
elsewhere); the benchmark over NAB's groups is `python -m
jaxgan.benchmarks.nab`.
"""

from jaxgan import config_lib

NAB_DIR = '../shared/data/nab'


def get_config(arg=None):
  if arg not in (None, '', 'csv', 'nab'):
    raise ValueError(f'configs/tadgan.py:{arg}: csv (default) or nab')
  config = config_lib.default_config('series')
  if arg == 'nab':
    config.data.data_dir = NAB_DIR
  return config
