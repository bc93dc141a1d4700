"""Sample-quality metrics, computed the way the papers that define them do.

Everything here is NumPy in float64 on feature arrays of shape (N, D) (or
class probabilities of shape (N, K), or 2-D points): the networks that produce
features live in `inception.py` and `classifier.py`. Results do not depend on
the order of the samples: where a metric draws random subsets (KID), the rows
are first put in a canonical order, so shuffling the inputs changes nothing.
"""

import numpy as np


def _float64(x) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2:
    raise ValueError(f'Expected features of shape (N, D), got {x.shape}.')
  return x


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
  """Square root of a symmetric positive semi-definite matrix."""
  eigenvalues, eigenvectors = np.linalg.eigh(matrix)
  return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

  The Frechet distance between two Gaussians (Dowson & Landau 1982), which
  FID evaluates on Inception features (Heusel et al. 2017, eq. 6).
  tr((sigma1 sigma2)^(1/2)) equals the sum of the singular values of
  sigma2^(1/2) sigma1^(1/2) (the eigenvalues of (sigma1 sigma2)^(1/2) are
  those of (sigma1^(1/2) sigma2 sigma1^(1/2))^(1/2)). Symmetric
  eigendecompositions and one SVD need no complex arithmetic and no diagonal
  offset, and stay accurate when the covariances are singular (fewer samples
  than dimensions, constant features): a singular value of zero comes out at
  rounding level, where a square root of an eigenvalue would magnify rounding
  to its square root.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1 = np.asarray(sigma1, np.float64)
  sigma2 = np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f'Shapes differ: mu {mu1.shape} vs {mu2.shape}, sigma '
                     f'{sigma1.shape} vs {sigma2.shape}.')
  sigma1 = (sigma1 + sigma1.T) / 2
  sigma2 = (sigma2 + sigma2.T) / 2
  trace_sqrt = np.sum(np.linalg.svd(_sqrtm_psd(sigma2) @ _sqrtm_psd(sigma1),
                                    compute_uv=False))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2 * trace_sqrt)


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance (rowvar=False, ddof=1, as pytorch-fid)."""
  features = _float64(features)
  if len(features) < 2:
    raise ValueError('A covariance needs at least 2 samples.')
  return features.mean(0), np.cov(features, rowvar=False, ddof=1)


def fid_from_features(features_a, features_b) -> float:
  """Frechet Inception Distance between two feature sets (N, D)."""
  return frechet_distance(*gaussian_statistics(features_a),
                          *gaussian_statistics(features_b))


def _canonical_order(x: np.ndarray) -> np.ndarray:
  """Rows sorted lexicographically: the same set gives the same array."""
  return x[np.lexsort(x.T[::-1])]


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with the kernel k(a, b) = (a.b / d + 1)^3."""
  d = x.shape[1]
  k_xx = (x @ x.T / d + 1) ** 3
  k_yy = (y @ y.T / d + 1) ** 3
  k_xy = (x @ y.T / d + 1) ** 3
  m, n = len(x), len(y)
  return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
               + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
               - 2 * k_xy.mean())


def kid_from_features(features_a, features_b, num_subsets=100,
                      subset_size=1000, seed=0) -> tuple[float, float]:
  """Kernel Inception Distance (Binkowski et al. 2018): (mean, std).

  The unbiased MMD^2 estimate with the cubic polynomial kernel, averaged over
  `num_subsets` random subsets of `subset_size` samples from each set (drawn
  without replacement, as in the authors' code). When `subset_size` is at least
  the size of either set there is nothing to draw: one estimate on all
  samples, std 0.
  """
  a, b = _float64(features_a), _float64(features_b)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'Feature sizes differ: {a.shape[1]} vs {b.shape[1]}.')
  if min(len(a), len(b)) < 2:
    raise ValueError('KID needs at least 2 samples in each set.')
  if subset_size >= min(len(a), len(b)):
    return _polynomial_mmd2(a, b), 0.0
  a, b = _canonical_order(a), _canonical_order(b)
  rng = np.random.default_rng(seed)
  estimates = [
      _polynomial_mmd2(a[rng.choice(len(a), subset_size, replace=False)],
                       b[rng.choice(len(b), subset_size, replace=False)])
      for _ in range(num_subsets)]
  return float(np.mean(estimates)), float(np.std(estimates))


def inception_score(probs, num_splits=10) -> tuple[float, float]:
  """Inception Score (Salimans et al. 2016): (mean, std) over splits.

  IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean prediction of the
  split. The samples are cut into `num_splits` consecutive splits as in the
  original code (Salimans et al.'s `inception_score.py`, and torch-fidelity):
  split k is rows [k N // S, (k + 1) N // S), so the std reflects the split
  size (np.array_split would put the boundaries elsewhere when S does not
  divide N).
  """
  probs = _float64(probs)
  if np.any(probs < 0) or not np.allclose(probs.sum(1), 1, atol=1e-3):
    raise ValueError('inception_score expects probabilities (rows of a '
                     'softmax), not logits.')
  scores = []
  n = len(probs)
  for k in range(num_splits):
    part = probs[k * n // num_splits:(k + 1) * n // num_splits]
    marginal = part.mean(0, keepdims=True)
    # 0 log 0 = 0: a class the model gives probability 0 adds nothing.
    kl = np.where(part > 0, part * (np.log(np.where(part > 0, part, 1))
                                    - np.log(np.where(marginal > 0,
                                                      marginal, 1))), 0.0)
    scores.append(np.exp(kl.sum(1).mean()))
  return float(np.mean(scores)), float(np.std(scores))


def _distance_blocks(x: np.ndarray, y: np.ndarray,
                     max_bytes: int = 1 << 29):
  """Yields (rows, Euclidean distances (len(rows), len(y))) over row blocks
  of x, each block at most `max_bytes`: memory stays bounded for 50,000 x
  50,000 comparisons."""
  y_norms = np.sum(y * y, axis=1)
  chunk = max(1, max_bytes // (8 * len(y)))
  for start in range(0, len(x), chunk):
    block = x[start:start + chunk]
    squared = (np.sum(block * block, axis=1)[:, None] + y_norms[None]
               - 2 * block @ y.T)
    yield slice(start, start + len(block)), np.sqrt(np.clip(squared, 0, None))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
  """Distance from each row to its k-th nearest other row."""
  if len(x) <= k:
    raise ValueError(f'k={k} nearest neighbours need more than {k} samples.')
  radii = np.empty(len(x))
  for rows, distances in _distance_blocks(x, x):
    # Column 0 of the sorted distances is the point itself (distance 0).
    radii[rows] = np.partition(distances, k, axis=1)[:, k]
  return radii


def knn_radii(features, k: int) -> np.ndarray:
  """Each sample's distance to its k-th nearest neighbour in its own set.

  The real set's radii depend only on the reference: compute them once and
  pass them as `real_radii` when evaluating many generators against it.
  """
  return _knn_radii(_float64(features), k)


def precision_recall(real_features, fake_features, k=3,
                     real_radii=None) -> tuple[float, float]:
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  Each set's manifold is the union of balls around its samples with radius
  the distance to the k-th nearest neighbour in the same set. Precision: the
  share of fake samples inside the real manifold; recall: the share of real
  samples inside the fake manifold.
  """
  real, fake = _float64(real_features), _float64(fake_features)
  if real_radii is None:
    real_radii = _knn_radii(real, k)
  fake_radii = _knn_radii(fake, k)
  fake_inside = np.zeros(len(fake), bool)
  real_inside = np.zeros(len(real), bool)
  for rows, distances in _distance_blocks(real, fake):  # (real rows, fake)
    fake_inside |= np.any(distances <= real_radii[rows, None], axis=0)
    real_inside[rows] = np.any(distances <= fake_radii[None, :], axis=1)
  return float(fake_inside.mean()), float(real_inside.mean())


def density_coverage(real_features, fake_features, k=5,
                     real_radii=None) -> tuple[float, float]:
  """Density and coverage (Naeem et al. 2020, eqs. 3 and 4).

  Density: how many real k-NN balls contain each fake sample, divided by k
  and averaged (1 when fakes are distributed like reals; above 1 when they
  crowd dense regions). Coverage: the share of real samples whose k-NN ball
  contains at least one fake sample.
  """
  real, fake = _float64(real_features), _float64(fake_features)
  if real_radii is None:
    real_radii = _knn_radii(real, k)
  count = 0
  covered = np.zeros(len(real), bool)
  for rows, distances in _distance_blocks(real, fake):
    inside = distances <= real_radii[rows, None]
    count += int(inside.sum())
    covered[rows] = inside.any(axis=1)
  return float(count / (k * len(fake))), float(covered.mean())


def mixture_modes(samples, centers, std, threshold=3.0,
                  weights=None) -> dict[str, float]:
  """Mode metrics of 2-D mixtures (VEEGAN, Srivastava et al. 2017; PacGAN).

  A sample is high quality when it lies within `threshold` standard
  deviations of its nearest mode centre; a mode is captured when it is the
  nearest centre of at least one high-quality sample. The reverse KL is
  KL(q || p) between the histogram q of high-quality samples over the modes
  and the mixture's mode weights p (uniform unless given), as in PacGAN's
  Table 1; it is infinite when no sample is of high quality.

  Returns {'modes': captured count, 'high_quality': share in [0, 1],
  'reverse_kl': nats, 'counts': per-mode high-quality counts}.
  """
  samples = _float64(samples)
  centers = _float64(centers)
  distances = next(_distance_blocks(samples, centers, max_bytes=1 << 40))[1]
  nearest = distances.argmin(1)
  good = distances.min(1) < threshold * std
  counts = np.bincount(nearest[good], minlength=len(centers))
  p = (np.full(len(centers), 1 / len(centers)) if weights is None
       else np.asarray(weights, np.float64) / np.sum(weights))
  if counts.sum() == 0:
    reverse_kl = float('inf')
  else:
    q = counts / counts.sum()
    mask = q > 0
    reverse_kl = float(np.sum(q[mask] * np.log(q[mask] / p[mask])))
  return {'modes': int(np.sum(counts > 0)), 'high_quality': float(good.mean()),
          'reverse_kl': reverse_kl, 'counts': counts}


def class_coverage(probs, min_share=0.02) -> dict:
  """Share of generated samples per predicted class; rare classes flagged.

  A domain classifier labels each sample with its most probable class. A
  class receiving less than `min_share` of the samples (2% by default, a fifth
  of its due share with 10 balanced classes) is reported as missing: the
  generator has collapsed away from it.
  """
  probs = _float64(probs)
  shares = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)
  missing = [int(c) for c in np.flatnonzero(shares < min_share)]
  return {'shares': shares, 'missing': missing,
          'classes_covered': probs.shape[1] - len(missing)}


# --- Controllable generation ---------------------------------------------------


def per_class_accuracy(predicted, requested) -> list[float]:
  """Share of samples of each requested class that are predicted as it."""
  predicted, requested = np.asarray(predicted), np.asarray(requested)
  return [float(np.mean(predicted[requested == k] == k))
          for k in range(int(requested.max()) + 1)]


def best_permutation_accuracy(codes, classes) -> tuple[float, list[int]]:
  """Accuracy of `codes` as predictions of `classes` under the best one-to-one
  map of codes to classes (the Hungarian method on the contingency table).

  Returns (accuracy, mapping) with mapping[code] = class. Used for InfoGAN's
  categorical code against digit classes (Chen et al. 2016, sec. 7.1: 5%
  error on MNIST).
  """
  from scipy import optimize  # pylint: disable=g-import-not-at-top
  codes, classes = np.asarray(codes), np.asarray(classes)
  size = int(max(codes.max(), classes.max())) + 1
  table = np.zeros((size, size), np.int64)
  np.add.at(table, (codes, classes), 1)
  rows, cols = optimize.linear_sum_assignment(table, maximize=True)
  mapping = [int(c) for _, c in sorted(zip(rows, cols))]
  return float(table[rows, cols].sum() / len(codes)), mapping


def power_spectrum(images) -> np.ndarray:
  """Mean power spectrum |FFT2|^2 of images (N, H, W[, C]) -> (H, W).

  Each image is averaged over channels and its mean removed; the spectra
  are averaged over images and returned unshifted (frequency 0 at [0, 0],
  Nyquist at [H / 2, .] and [., W / 2]). The checkerboard of transposed
  convolutions (Odena et al. 2016) is a peak at the Nyquist frequencies.
  """
  x = np.asarray(images, np.float64)
  if x.ndim == 4:
    x = x.mean(axis=-1)
  x = x - x.mean(axis=(1, 2), keepdims=True)
  return np.mean(np.abs(np.fft.fft2(x)) ** 2, axis=0)


def checkerboard_ratio(spectrum: np.ndarray) -> float:
  """How much the period-2 frequencies ((H/2, 0), (0, W/2), (H/2, W/2))
  stand out of their surroundings: each one's power over the mean of its
  four neighbours, averaged over the three. About 1 where the spectrum is
  smooth there, large with a checkerboard. H and W even."""
  h, w = spectrum.shape
  ratios = []
  for y, x in ((h // 2, 0), (0, w // 2), (h // 2, w // 2)):
    around = [spectrum[(y + dy) % h, (x + dx) % w]
              for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    ratios.append(spectrum[y, x] / np.mean(around))
  return float(np.mean(ratios))


# --- Sliced Wasserstein distance on Laplacian-pyramid patches --------------
# Karras et al. 2018, appendix D: 7x7 neighbourhoods of every level of the
# Laplacian pyramid from the full resolution down to 16x16, 128 per image,
# each channel normalised over all neighbourhoods of its level, and the
# sliced Wasserstein distance between the real and generated sets along
# 4 x 128 random unit directions; reported x 1e3 per level and averaged.

_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _blur(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """(N, H, W, C) convolved over H and W with the 5x5 kernel, borders
  mirrored without repeating the edge (scipy's 'mirror', OpenCV's
  BORDER_REFLECT_101)."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  return ndimage.convolve(x, kernel[None, :, :, None], mode='mirror')


def pyramid_down(x: np.ndarray) -> np.ndarray:
  """Blur, then every second pixel (OpenCV's pyrDown)."""
  return _blur(x, _BINOMIAL)[:, ::2, ::2]


def pyramid_up(x: np.ndarray) -> np.ndarray:
  """Zeros between the pixels, then blur x 4 (OpenCV's pyrUp)."""
  n, h, w, c = x.shape
  up = np.zeros((n, 2 * h, 2 * w, c), x.dtype)
  up[:, ::2, ::2] = x
  return _blur(up, 4 * _BINOMIAL)


def laplacian_pyramid(images, levels: int) -> list[np.ndarray]:
  """[full-resolution detail, ..., the coarsest Gaussian level] of
  (N, H, W, C) images (as float64, in their own units)."""
  pyramid = [np.asarray(images, np.float64)]
  for _ in range(1, levels):
    pyramid.append(pyramid_down(pyramid[-1]))
    pyramid[-2] = pyramid[-2] - pyramid_up(pyramid[-1])
  return pyramid


def patch_descriptors(level: np.ndarray, rng: np.random.Generator,
                      size: int = 7, per_image: int = 128) -> np.ndarray:
  """`per_image` random size x size neighbourhoods of every image of a
  level (N, H, W, C) -> (N * per_image, C, size, size), fully inside."""
  n, h, w, _ = level.shape
  half = size // 2
  ys = rng.integers(half, h - half, (n, per_image))
  xs = rng.integers(half, w - half, (n, per_image))
  offsets = np.arange(-half, half + 1)
  rows = (ys[..., None] + offsets)[..., :, None]  # (n, p, size, 1)
  cols = (xs[..., None] + offsets)[..., None, :]  # (n, p, 1, size)
  patches = level[np.arange(n)[:, None, None, None], rows, cols]
  return patches.reshape(n * per_image, size, size, -1).transpose(0, 3, 1, 2)


def normalize_descriptors(desc: np.ndarray) -> np.ndarray:
  """Each channel to mean 0 and std 1 over the set; flattened."""
  desc = desc - desc.mean(axis=(0, 2, 3), keepdims=True)
  desc = desc / desc.std(axis=(0, 2, 3), keepdims=True)
  return desc.reshape(len(desc), -1).astype(np.float32)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                       repeats: int = 4, directions: int = 128) -> float:
  """Mean over random unit directions of the 1-D Wasserstein-1 distance
  between the projections of two equal-sized point sets (N, D)."""
  if a.shape != b.shape:
    raise ValueError(f'the sets differ in shape: {a.shape} vs {b.shape}')
  results = []
  for _ in range(repeats):
    dirs = rng.standard_normal((a.shape[1], directions))
    dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    results.append(np.mean(np.abs(pa - pb)))
  return float(np.mean(results))


def swd_resolutions(side: int) -> list[int]:
  """The pyramid's levels: side, side / 2, ..., down to 16."""
  out = []
  while side >= 16:
    out.append(side)
    side //= 2
  return out


def sliced_wasserstein_distance(real, fake, seed: int = 0) -> dict:
  """SWD x 1e3 per pyramid level ('swd_<side>') and their mean ('swd'), of
  equally many real and generated images (N, S, S, C) in the same units
  (uint8 as the authors' code, or floats)."""
  real, fake = np.asarray(real), np.asarray(fake)
  if real.shape[1:] != fake.shape[1:] or len(real) != len(fake):
    raise ValueError(f'SWD needs as many real as generated images of one '
                     f'shape: {real.shape} vs {fake.shape}')
  sides = swd_resolutions(real.shape[1])
  if not sides:
    raise ValueError(f'SWD needs images of at least 16x16, not '
                     f'{real.shape[1]}x{real.shape[2]}')
  rng = np.random.default_rng(seed)
  descriptors = []
  for images in (real, fake):
    descriptors.append([normalize_descriptors(patch_descriptors(level, rng))
                        for level in laplacian_pyramid(images, len(sides))])
  out = {f'swd_{side}': 1e3 * sliced_wasserstein(r, f, rng)
         for side, r, f in zip(sides, *descriptors)}
  out['swd'] = float(np.mean(list(out.values())))
  return out


# --- MS-SSIM between generated images (Odena et al. 2017) -------------------

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_filter_valid(x: np.ndarray, size: int = 11,
                           sigma: float = 1.5) -> np.ndarray:
  """(N, H, W, C) -> 'valid' correlation over H and W with a normalised
  size x size Gaussian (separable)."""
  g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
  g /= g.sum()
  rows = sum(g[i] * x[:, i:x.shape[1] - size + 1 + i] for i in range(size))
  return sum(g[j] * rows[:, :, j:rows.shape[2] - size + 1 + j]
             for j in range(size))


def ssim_maps(a: np.ndarray, b: np.ndarray, max_val: float = 255.0):
  """SSIM's luminance and contrast-structure maps of image pairs (N, H, W,
  C) (Wang et al. 2004, their ssim_index.m: an 11x11 Gaussian window of
  sigma 1.5, 'valid', K1 0.01, K2 0.03); SSIM is the mean of their
  product."""
  c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
  mu_a, mu_b = _gaussian_filter_valid(a), _gaussian_filter_valid(b)
  var_a = _gaussian_filter_valid(a * a) - mu_a ** 2
  var_b = _gaussian_filter_valid(b * b) - mu_b ** 2
  cov = _gaussian_filter_valid(a * b) - mu_a * mu_b
  luminance = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
  return luminance, (2 * cov + c2) / (var_a + var_b + c2)


def ms_ssim_scales(side: int, filter_size: int = 11) -> int:
  """How many of MS-SSIM's 5 scales images of `side` allow (the coarsest
  at least the filter's size)."""
  scales = 1
  while scales < 5 and side // 2**scales >= filter_size:
    scales += 1
  return scales


def ms_ssim(a, b, max_val: float = 255.0, scales: int | None = None
            ) -> np.ndarray:
  """Multi-scale SSIM (Wang et al. 2003) of image pairs (N, H, W, C), as
  `tf.image.ssim_multiscale` computes it: an 11x11 Gaussian window (sigma
  1.5, 'valid'), K1 0.01, K2 0.03, the contrast-structure term at every
  scale but the last and the full SSIM at the last, each clipped at 0,
  raised to the scales' weights, 2x2 average pooling between scales; the
  mean over channels. Images too small for the 5 scales of the paper use
  the first `scales` (default: as many as fit, `ms_ssim_scales`) with
  their weights renormalised to sum 1. -> (N,)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  scales = scales or ms_ssim_scales(min(a.shape[1:3]))
  weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
  weights = weights / weights.sum()
  terms = []
  for scale in range(scales):
    luminance, cs = ssim_maps(a, b, max_val)
    if scale == scales - 1:
      cs = luminance * cs
    terms.append(np.maximum(np.mean(cs, axis=(1, 2)), 0.0))  # (N, C)
    if scale < scales - 1:
      a, b = (_avg_pool2(x) for x in (a, b))
  value = np.prod([t ** w for t, w in zip(terms, weights)], axis=0)
  return value.mean(axis=-1)


def _avg_pool2(x: np.ndarray) -> np.ndarray:
  """2x2 average pooling, an odd side first padded by its mirror image
  (TF's symmetric padding)."""
  n, h, w, c = x.shape
  x = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode='symmetric')
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim_diversity(images, num_pairs: int = 1000, seed: int = 0,
                      max_val: float = 255.0) -> float:
  """Mean MS-SSIM over random pairs of distinct images (Odena et al. 2017:
  lower is more diverse; a collapsed generator approaches 1)."""
  images = np.asarray(images)
  rng = np.random.default_rng(seed)
  i = rng.integers(0, len(images), num_pairs)
  j = (i + rng.integers(1, len(images), num_pairs)) % len(images)
  return float(np.mean(ms_ssim(images[i], images[j], max_val)))
