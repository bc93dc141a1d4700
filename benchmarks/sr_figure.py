r"""The super-resolution crop figure: columns of crops from SR outputs saved by
`python -m jaxgan.evaluate sr` (each folder holds NAME_SR.png per image) and
the HR image, one row per (image, window).

  python -m benchmarks.sr_figure --out=docs/sr_set5_x4.png \
      --columns=bicubic=runs/sr_bicubic/set5_x4,SRResNet=runs/srresnet/eval/sr_set5_x4_step2000 \
      --set=set5 --scale=4 --crops=baby:200:180,butterfly:100:60,bird:110:120

A crop is IMAGE:TOP:LEFT (the HR image's `*_HR.png` name without _HR),
`--size` pixels square, each shown `--zoom` times, nearest-neighbour (no
smoothing of its own); the last column is the HR image.
"""

import pathlib

import numpy as np
from absl import app
from absl import flags
from PIL import Image

from jaxgan.families.paired import sr_eval


def define_flags():
  """Defined only when run as a program: importing claims no flag names."""
  flags.DEFINE_string('out', 'docs/sr_crops.png', 'The PNG to write.')
  flags.DEFINE_list('columns', [],
                    'LABEL=FOLDER of saved SR outputs, in order.')
  flags.DEFINE_string('set', 'set5',
                      'The benchmark set (or folder) of the HR.')
  flags.DEFINE_integer('scale', 4, 'The upscaling factor.')
  flags.DEFINE_string('sr_dir', 'data/sr', 'Where the SelfExSR sets are.')
  flags.DEFINE_list('crops', [], 'IMAGE:TOP:LEFT windows, one row each.')
  flags.DEFINE_integer('size', 64, 'The window size in HR pixels.')
  flags.DEFINE_integer('zoom', 3, 'Each window is shown this many times.')


FLAGS = flags.FLAGS

_GAP = 4


def crop_figure(columns, hr_by_name, crops, size, zoom) -> np.ndarray:
  """columns: [(label, {name: uint8 image})]; a uint8 (rows, cols, 3) grid
  with the HR crop last."""
  tiles = []
  for name, top, left in crops:
    hr = hr_by_name[name]
    if top + size > hr.shape[0] or left + size > hr.shape[1]:
      raise ValueError(f'{name}: the window {top}:{top + size}, '
                       f'{left}:{left + size} is outside its '
                       f'{hr.shape[0]}x{hr.shape[1]} image')
    row = []
    for _, images in columns + [('HR', hr_by_name)]:
      window = images[name][top:top + size, left:left + size]
      if window.shape[-1] == 1:
        window = np.repeat(window, 3, -1)
      row.append(window.repeat(zoom, 0).repeat(zoom, 1))
    tiles.append(row)
  tile = size * zoom
  grid = np.full((len(tiles) * (tile + _GAP) - _GAP,
                  len(tiles[0]) * (tile + _GAP) - _GAP, 3), 255, np.uint8)
  for r, row in enumerate(tiles):
    for c, window in enumerate(row):
      grid[r * (tile + _GAP):r * (tile + _GAP) + tile,
           c * (tile + _GAP):c * (tile + _GAP) + tile] = window
  return grid


def main(argv):
  del argv
  eval_set = sr_eval.load_set(FLAGS.set, FLAGS.scale, FLAGS.sr_dir)
  names = [p.stem.replace('_HR', '') for p in eval_set.paths]
  hr_by_name = dict(zip(names, eval_set.hr))
  columns = []
  for spec in FLAGS.columns:
    label, folder = spec.split('=', 1)
    columns.append((label, {
        n: sr_eval._read(pathlib.Path(folder) / f'{n}_SR.png')  # pylint: disable=protected-access
        for n in names}))
  crops = [(c.split(':')[0], int(c.split(':')[1]), int(c.split(':')[2]))
           for c in FLAGS.crops]
  grid = crop_figure(columns, hr_by_name, crops, FLAGS.size, FLAGS.zoom)
  pathlib.Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(grid).save(FLAGS.out)
  print(f'{FLAGS.out}: columns {[c[0] for c in columns] + ["HR"]}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
