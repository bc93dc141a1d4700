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
