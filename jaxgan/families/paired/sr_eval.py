"""Super-resolution scores as the field reports them: PSNR and SSIM on Y.

The protocol of every table since SRCNN (Dong et al. 2014), as their MATLAB
code computes it:

  1. the HR image is cropped to a multiple of the scale (`modcrop`), the LR
     input is MATLAB's bicubic `imresize(hr, 1 / scale)` (`jaxgan.imresize`),
     saved as uint8;
  2. the output is quantised to uint8 (a saved PNG), both images go to the Y
     channel of ITU-R BT.601 YCbCr as MATLAB's `rgb2ycbcr` (Y = 16 +
     (65.481 R + 128.553 G + 24.966 B) on [0, 1] RGB, rounded to uint8; a grey
     image is its own Y);
  3. `scale` pixels are cropped from each border ("shave");
  4. PSNR = 10 log10(255^2 / MSE); SSIM is Wang et al.'s `ssim_index.m`: an
     11x11 Gaussian window (sigma 1.5), 'valid' filtering, K1 0.01, K2 0.03,
     L 255, the mean of the map;
  5. per image, then averaged over the set.

`bicubic` upscales the LR input with the same imresize: the baseline every
table prints first (x4: Set5 28.42 dB / 0.8104).
"""

import dataclasses
import os
import pathlib

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from jaxgan import errors
from jaxgan import imresize
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import metrics
from jaxgan import writers

# The SelfExSR release of the benchmark sets (../shared/data/sr-benchmarks,
# extracted under data/sr): SET/image_SRF_<scale>/img_NNN_SRF_<scale>_HR.png.
SETS = {'set5': 'Set5', 'set14': 'Set14', 'bsd100': 'BSD100'}


def rgb_to_y(image: np.ndarray) -> np.ndarray:
  """uint8 (H, W, 3) or (H, W[, 1]) -> MATLAB rgb2ycbcr's Y, as float64
  holding uint8 values (a grey image is returned as it is)."""
  image = np.asarray(image)
  if image.ndim == 3 and image.shape[-1] == 3:
    rgb = image.astype(np.float64) / 255.0
    y = 16.0 + rgb @ np.array([65.481, 128.553, 24.966])
    return np.round(y)
  return image.reshape(image.shape[:2]).astype(np.float64)


def shave(image: np.ndarray, border: int) -> np.ndarray:
  return image[border:image.shape[0] - border,
               border:image.shape[1] - border] if border else image


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float(10 * np.log10(peak ** 2 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
  """Wang et al. 2004's SSIM of two grey images (their ssim_index.m)."""
  if min(a.shape) < 11:
    raise ValueError(f'SSIM needs images of at least 11x11, not {a.shape}')
  luminance, cs = metrics.ssim_maps(
      a.astype(np.float64)[None, ..., None],
      b.astype(np.float64)[None, ..., None], peak)
  return float(np.mean(luminance * cs))


def score(output: np.ndarray, hr: np.ndarray, scale: int) -> dict:
  """PSNR and SSIM on Y, `scale` pixels shaved, of uint8 images."""
  if output.shape[:2] != hr.shape[:2]:
    raise ValueError(f'the output is {output.shape[:2]}, the HR image '
                     f'{hr.shape[:2]}')
  y_out, y_hr = shave(rgb_to_y(output), scale), shave(rgb_to_y(hr), scale)
  return {'psnr': psnr(y_out, y_hr), 'ssim': ssim(y_out, y_hr)}


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
  """The LR input of a uint8 HR image (already a multiple of `scale`)."""
  if hr.shape[0] % scale or hr.shape[1] % scale:
    raise errors.ConfigError(
        f'a {hr.shape[1]}x{hr.shape[0]} image does not divide by the scale '
        f'{scale}: crop it with imresize.modcrop first')
  return imresize.resize(hr, 1.0 / scale)


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
  """The bicubic baseline: MATLAB imresize(lr, scale), uint8."""
  return imresize.resize(lr, float(scale))


@dataclasses.dataclass
class EvalSet:
  """HR images (uint8, cropped to the scale) of one evaluation set."""
  name: str
  scale: int
  paths: list
  hr: list  # (H, W, C) uint8 each, sizes differ

  def lr(self) -> list:
    return [downscale(h, self.scale) for h in self.hr]


def _read(path) -> np.ndarray:
  with Image.open(path) as im:
    im.load()
    mode = 'L' if im.mode in ('L', 'I', 'I;16', '1') else 'RGB'
    array = np.asarray(im.convert(mode))
  return array[..., None] if array.ndim == 2 else array


def load_set(name: str, scale: int, sr_dir: str = 'data/sr') -> EvalSet:
  """A benchmark set by name (`SETS`, under `sr_dir` as the SelfExSR release
  extracts) or any folder of HR images, each cropped to a multiple of
  `scale`."""
  if name.lower() in SETS:
    folder = pathlib.Path(sr_dir) / SETS[name.lower()] / f'image_SRF_{scale}'
    if not folder.is_dir():
      raise input_pipeline.DataError(
          f'{folder} does not exist: extract the SelfExSR benchmark archives '
          f'(e.g. ../shared/data/sr-benchmarks/*.tar.gz) into {sr_dir}, or '
          f'pass a folder of HR images (BSD100 ships x4 only)')
    paths = sorted(folder.glob('*_HR.png'))
  else:
    folder = pathlib.Path(name)
    if not folder.is_dir():
      raise input_pipeline.DataError(
          f'{name} is neither a benchmark set ({", ".join(SETS)}) nor a '
          'folder of images')
    paths = sorted(p for p in folder.rglob('*') if p.is_file() and
                   p.suffix.lower() in input_pipeline.IMAGE_EXTENSIONS)
  if not paths:
    raise input_pipeline.DataError(f'{folder} holds no HR images')
  hr = [imresize.modcrop(_read(p), scale) for p in paths]
  return EvalSet(folder.name if name.lower() not in SETS else name.lower(),
                 scale, paths, hr)


def evaluate_set(eval_set: EvalSet, upscale, out_dir=None) -> dict:
  """Scores `upscale(lr uint8 (h, w, C)) -> uint8 (H, W, C)` on every image
  of the set; saves the outputs as PNGs under `out_dir` when given."""
  rows = []
  for path, hr, lr in zip(eval_set.paths, eval_set.hr, eval_set.lr()):
    output = upscale(lr)
    row = {'image': path.name, **score(output, hr, eval_set.scale)}
    rows.append(row)
    if out_dir is not None:
      out = pathlib.Path(out_dir)
      out.mkdir(parents=True, exist_ok=True)
      Image.fromarray(output[..., 0] if output.shape[-1] == 1 else output
                      ).save(out / f'{path.stem.replace("_HR", "")}_SR.png')
  return {'set': eval_set.name, 'scale': eval_set.scale, 'n': len(rows),
          'psnr': float(np.mean([r['psnr'] for r in rows])),
          'ssim': float(np.mean([r['ssim'] for r in rows])),
          'images': rows,
          'protocol': 'Y of BT.601 (MATLAB rgb2ycbcr, rounded), shave '
                      f'{eval_set.scale}, LR by MATLAB bicubic imresize'}


def model_upscale(predict, channels: int):
  """upscale(lr uint8 (h, w, C)) -> uint8 of a paired-family predict whose
  network takes `channels`. A grey image (Set14 has two) goes to a colour
  network as three equal channels and comes back as their mean: a grey
  image, scored as its own Y as bicubic's is."""
  def upscale(lr):
    grey_in_colour = lr.shape[-1] == 1 and channels == 3
    x = np.repeat(lr, 3, -1) if grey_in_colour else lr
    if x.shape[-1] != channels:
      raise errors.ConfigError(
          f'the network takes {channels}-channel images and this one has '
          f'{lr.shape[-1]}')
    out = inception.to_uint8(predict({'source': x[None]})[0])
    if grey_in_colour:
      out = np.rint(out.mean(-1, keepdims=True)).astype(np.uint8)
    return out
  return upscale


class SREvaluator:
  """The paired family's super-resolution evaluation during training: PSNR
  (primary, higher is better) and SSIM on Y of `data.eval_set`, whole
  images (one compile per image size, kept for later evaluations)."""
  primary = 'eval/psnr'
  higher_is_better = True

  def __init__(self, config, data, workdir: str, write: bool = True):
    from jaxgan import evaluate  # pylint: disable=g-import-not-at-top
    del config
    self.channels = data.spec['source'][-1]
    if data.eval is None:
      raise errors.ConfigError(
          'config.eval_every needs an evaluation set: set '
          'config.data.eval_set (set5, set14, bsd100 or a folder)')
    self.eval_set = data.eval
    self.history = evaluate.History(workdir, write)

  def evaluate(self, step: int, predict) -> dict[str, float]:
    result = evaluate_set(self.eval_set,
                          model_upscale(predict, self.channels))
    scalars = {'eval/psnr': result['psnr'], 'eval/ssim': result['ssim']}
    self.history.record(step, scalars)
    return scalars


# --- python -m jaxgan.evaluate sr ------------------------------------------
#   python -m jaxgan.evaluate sr --workdir=runs/srresnet --set=set5 --scale=4
#   python -m jaxgan.evaluate sr --method=bicubic --set=set14 --scale=4
# PSNR/SSIM on Y of a run or of the bicubic baseline; the SR images are
# saved beside result.json.


def define_flags():
  flags.DEFINE_string('set', 'set5', 'sr: the benchmark set (set5, set14, '
                      'bsd100 under --sr_dir) or a folder of HR images.')
  flags.DEFINE_integer('scale', 4, 'sr: the upscaling factor.')
  flags.DEFINE_string('sr_dir', 'data/sr', 'sr: where the SelfExSR '
                      'benchmark archives are extracted.')
  flags.DEFINE_string('interpolate_from', None, 'sr: network '
                      "interpolation (Wang et al. 2018), (1 - alpha) x this "
                      "run's generator (the PSNR-oriented one) + alpha x "
                      "--workdir's.")
  flags.DEFINE_float('alpha', 0.8, 'sr: the interpolation weight of '
                     '--workdir (0.8 in Wang et al. 2018).')


def command(FLAGS):  # pylint: disable=invalid-name
  """sr: --method=model (the run in --workdir) or bicubic (no workdir)."""
  # Here, not at the top: translate imports this module (through sr_data).
  from jaxgan import translate  # pylint: disable=g-import-not-at-top
  scale = FLAGS.scale
  if FLAGS.method not in ('model', 'bicubic'):
    raise app.UsageError('sr: --method=model or bicubic')
  eval_set = load_set(FLAGS.set, scale, FLAGS.sr_dir)
  if FLAGS.method == 'bicubic':
    upscale = lambda lr: bicubic(lr, scale)  # pylint: disable=unnecessary-lambda-assignment
    out = FLAGS.out or os.path.join('runs', 'sr_bicubic',
                                    f'{eval_set.name}_x{scale}')
    source = {'method': 'bicubic (MATLAB imresize)'}
  else:
    if not FLAGS.workdir:
      raise app.UsageError('sr needs --workdir (or --method=bicubic)')
    translator = translate.load(FLAGS.workdir, FLAGS.step, FLAGS.best)
    if FLAGS.interpolate_from:
      translator = translate.interpolate(
          translate.load(FLAGS.interpolate_from), translator, FLAGS.alpha)
    data = translator.config.data
    if data.name != 'super_resolution' or data.scale != scale:
      raise errors.ConfigError(
          f'{FLAGS.workdir} is not a x{scale} super-resolution run '
          f'(data.name={data.name!r}, scale {data.get("scale")}): pass its '
          'own --scale')
    upscale = model_upscale(lambda inputs: translator(inputs['source']),
                            translator.meta['source_shape'][-1])
    out = FLAGS.out or os.path.join(
        FLAGS.workdir, 'eval', f'sr_{eval_set.name}_x{scale}_step'
        f'{translator.step}{"_best" if FLAGS.best else ""}'
        f'{f"_alpha{FLAGS.alpha:g}" if FLAGS.interpolate_from else ""}')
    source = {'method': 'model', 'workdir': FLAGS.workdir,
              'step': translator.step}
    if FLAGS.interpolate_from:
      source.update(interpolate_from=FLAGS.interpolate_from,
                    alpha=FLAGS.alpha)
  result = {**source, **evaluate_set(eval_set, upscale, out)}
  writers.write_result(out, result, ' (and the SR images)', ('images',))
