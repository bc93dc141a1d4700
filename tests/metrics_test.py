"""Metric formulas against float64 references written independently here."""

import functools
import itertools

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial import distance as scipy_distance

from jaxgan import metrics


def _reference_fid(a, b):
  # pytorch-fid's recipe: scipy's general sqrtm of the product.
  mu1, mu2 = a.mean(0), b.mean(0)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)


def test_fid_matches_scipy_sqrtm_reference():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(500, 16))
  b = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
  assert metrics.fid_from_features(a, b) == pytest.approx(
      _reference_fid(a, b), rel=1e-9)


def test_fid_zero_on_identical_sets_symmetric_and_order_free():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(300, 8)), rng.normal(1.0, 2.0, size=(200, 8))
  assert abs(metrics.fid_from_features(a, a)) < 1e-9
  ab, ba = metrics.fid_from_features(a, b), metrics.fid_from_features(b, a)
  assert ab == pytest.approx(ba, rel=1e-12)
  assert metrics.fid_from_features(rng.permutation(a), b) == pytest.approx(
      ab, rel=1e-12)
  assert ab > 1


def test_fid_exact_on_singular_covariances():
  # Diagonal covariances, some variances exactly zero: the Frechet distance
  # is sum (mu1 - mu2)^2 + sum (sqrt(v1) - sqrt(v2))^2 in closed form.
  mu1, mu2 = np.array([0., 1., 2., 3.]), np.array([1., 1., 0., 3.])
  v1, v2 = np.array([4., 0., 1., 0.]), np.array([1., 0., 0., 9.])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  got = metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  assert got == pytest.approx(expected, rel=1e-12)
  # Fewer samples than dimensions: rank-deficient, still finite and >= 0.
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(10, 64)), rng.normal(size=(12, 64)) + 0.1
  value = metrics.fid_from_features(a, b)
  assert np.isfinite(value) and value > 0
  assert abs(metrics.fid_from_features(a, a)) < 1e-9


def test_fid_uses_ddof_1_covariance():
  a = np.array([[0., 0.], [2., 0.], [0., 2.]])
  mu, sigma = metrics.gaussian_statistics(a)
  np.testing.assert_allclose(sigma, np.cov(a.T, ddof=1))
  np.testing.assert_allclose(mu, [2 / 3, 2 / 3])


def _reference_mmd2(x, y):
  d = x.shape[1]
  k = lambda u, v: (u @ v / d + 1) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def test_kid_one_subset_matches_loop_reference():
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(30, 5)), rng.normal(0.5, 1.0, size=(25, 5))
  mean, std = metrics.kid_from_features(a, b, subset_size=1000)
  assert mean == pytest.approx(_reference_mmd2(a, b), rel=1e-10)
  assert std == 0.0


def test_kid_unbiased_and_order_free():
  rng = np.random.default_rng(4)
  estimates = [metrics.kid_from_features(rng.normal(size=(200, 16)),
                                         rng.normal(size=(200, 16)),
                                         subset_size=1000)[0]
               for _ in range(40)]
  # An unbiased estimator averages to 0 on two samples of one distribution
  # (a biased V-statistic would sit clearly above 0).
  assert abs(np.mean(estimates)) < 3 * np.std(estimates) / np.sqrt(40)
  a, b = rng.normal(size=(300, 4)), rng.normal(0.3, 1.0, size=(250, 4))
  kid = metrics.kid_from_features(a, b, num_subsets=20, subset_size=50)
  shuffled = metrics.kid_from_features(rng.permutation(a), rng.permutation(b),
                                       num_subsets=20, subset_size=50)
  assert kid == shuffled
  assert kid[0] > 0 and kid[1] > 0


def test_inception_score_extremes_and_reference():
  assert metrics.inception_score(np.full((100, 10), 0.1), num_splits=10)[0] \
      == pytest.approx(1.0)
  confident = np.tile(np.eye(10), (50, 1))  # Every split holds each class.
  mean, std = metrics.inception_score(confident, num_splits=10)
  assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-9)
  rng = np.random.default_rng(5)
  logits = rng.normal(size=(90, 7)) * 3
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  # exp(H(p(y)) - E_x H(p(y|x))): the same number written as entropies.
  expected = []
  for part in np.split(probs, 3):
    marginal = part.mean(0)
    expected.append(np.exp(-np.sum(marginal * np.log(marginal))
                           + np.mean(np.sum(part * np.log(part), 1))))
  mean, std = metrics.inception_score(probs, num_splits=3)
  assert mean == pytest.approx(np.mean(expected), rel=1e-10)
  assert std == pytest.approx(np.std(expected), rel=1e-8)
  with pytest.raises(ValueError, match='probabilities'):
    metrics.inception_score(logits)


def test_inception_score_splits_as_the_original_when_n_does_not_divide():
  # Salimans et al.'s inception_score.py: split k is
  # probs[k * N // S:(k + 1) * N // S]. With N = 23, S = 5 that is sizes
  # 4, 5, 4, 5, 5; np.array_split gives 5, 5, 5, 4, 4.
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(23, 6)) * 2
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  scores = []
  for k in range(5):
    part = probs[k * 23 // 5:(k + 1) * 23 // 5]
    kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
    scores.append(np.exp(kl.sum(1).mean()))
  mean, std = metrics.inception_score(probs, num_splits=5)
  assert mean == pytest.approx(np.mean(scores), rel=1e-12)
  assert std == pytest.approx(np.std(scores), rel=1e-10)
  shifted = [np.exp((p * (np.log(p) - np.log(p.mean(0, keepdims=True))))
                    .sum(1).mean()) for p in np.array_split(probs, 5)]
  assert abs(np.mean(shifted) - mean) > 1e-6  # The test tells them apart.


def _reference_manifold(reference, k):
  d = scipy_distance.cdist(reference, reference)
  return np.sort(d, axis=1)[:, k]


def test_precision_recall_against_brute_force():
  rng = np.random.default_rng(6)
  real = rng.normal(size=(120, 3))
  fake = rng.normal(0.8, 0.7, size=(90, 3))
  real_r, fake_r = _reference_manifold(real, 3), _reference_manifold(fake, 3)
  d = scipy_distance.cdist(fake, real)
  precision = np.mean([any(d[j, i] <= real_r[i] for i in range(len(real)))
                       for j in range(len(fake))])
  recall = np.mean([any(d[j, i] <= fake_r[j] for j in range(len(fake)))
                    for i in range(len(real))])
  got = metrics.precision_recall(real, fake, k=3)
  assert got == pytest.approx((precision, recall))
  assert 0 < got[0] < 1 and 0 < got[1] < 1
  assert metrics.precision_recall(real, real, k=3) == (1.0, 1.0)
  assert metrics.precision_recall(real, real + 100, k=3) == (0.0, 0.0)


def test_density_coverage_against_brute_force():
  rng = np.random.default_rng(7)
  real, fake = rng.normal(size=(100, 4)), rng.normal(0.5, 1.0, size=(80, 4))
  radii = _reference_manifold(real, 5)
  d = scipy_distance.cdist(fake, real)
  density = sum(d[j, i] <= radii[i] for j, i in
                itertools.product(range(len(fake)), range(len(real)))) / (5 * 80)
  coverage = np.mean([np.any(d[:, i] <= radii[i]) for i in range(len(real))])
  assert metrics.density_coverage(real, fake, k=5) == pytest.approx(
      (density, coverage))
  assert metrics.density_coverage(real, real, k=5)[1] == 1.0


def test_mixture_modes_on_hand_built_samples():
  centers = np.array([[0., 0.], [10., 0.], [0., 10.], [10., 10.]])
  std = 0.5
  samples = np.array([
      [0.1, 0.0], [0.0, -0.2], [0.3, 0.3],  # Mode 0, all within 3 std.
      [10.0, 1.0],                           # Mode 1, 2 std away.
      [5.0, 5.0], [10.0, 3.0],               # Far from every mode.
  ])
  result = metrics.mixture_modes(samples, centers, std)
  assert result['modes'] == 2
  np.testing.assert_array_equal(result['counts'], [3, 1, 0, 0])
  assert result['high_quality'] == pytest.approx(4 / 6)
  q = np.array([3 / 4, 1 / 4])
  assert result['reverse_kl'] == pytest.approx(np.sum(q * np.log(q / 0.25)))
  collapsed = metrics.mixture_modes(np.zeros((10, 2)), centers, std)
  assert collapsed['modes'] == 1
  assert collapsed['reverse_kl'] == pytest.approx(np.log(4))
  assert metrics.mixture_modes(samples + 100, centers, std)['reverse_kl'] \
      == float('inf')


def test_class_coverage_flags_rare_classes():
  probs = np.zeros((100, 4))
  probs[np.arange(100), [0] * 60 + [1] * 39 + [2]] = 1
  result = metrics.class_coverage(probs)
  np.testing.assert_allclose(result['shares'], [0.6, 0.39, 0.01, 0.0])
  assert result['missing'] == [2, 3] and result['classes_covered'] == 2


def test_blockwise_distances_give_the_same_results(monkeypatch):
  rng = np.random.default_rng(8)
  real, fake = rng.normal(size=(70, 3)), rng.normal(0.4, 1.0, size=(50, 3))
  whole = (metrics.precision_recall(real, fake),
           metrics.density_coverage(real, fake), metrics.knn_radii(real, 3))
  blocks = functools.partial(metrics._distance_blocks, max_bytes=8 * 70 * 3)
  monkeypatch.setattr(metrics, '_distance_blocks', blocks)  # 3-row blocks.
  assert metrics.precision_recall(real, fake) == whole[0]
  assert metrics.density_coverage(real, fake) == whole[1]
  np.testing.assert_array_equal(metrics.knn_radii(real, 3), whole[2])


# --- SWD and MS-SSIM (progressive growing's metrics) -------------------------


def test_laplacian_pyramid_reconstructs_and_blurs_as_opencv():
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 255, (3, 32, 32, 3))
  pyramid = metrics.laplacian_pyramid(images, 3)
  assert [p.shape[1] for p in pyramid] == [32, 16, 8]
  rebuilt = pyramid[-1]
  for detail in pyramid[-2::-1]:
    rebuilt = metrics.pyramid_up(rebuilt) + detail
  np.testing.assert_allclose(rebuilt, images, rtol=1e-12, atol=1e-9)
  # pyrDown of a constant is the constant (mirrored borders), and of an
  # impulse at an even position the 5x5 binomial kernel / 256, subsampled.
  flat = np.full((1, 8, 8, 1), 7.0)
  np.testing.assert_allclose(metrics.pyramid_down(flat), 7.0)
  impulse = np.zeros((1, 16, 16, 1))
  impulse[0, 8, 8, 0] = 256.0
  down = metrics.pyramid_down(impulse)[0, :, :, 0]
  np.testing.assert_allclose(down[3:6, 3:6], np.outer([1, 6, 1], [1, 6, 1]),
                             atol=1e-12)
  assert np.sum(np.abs(down)) == pytest.approx(64)


def test_patch_descriptors_are_the_images_neighbourhoods():
  rng = np.random.default_rng(0)
  level = rng.normal(size=(2, 20, 24, 3))
  desc = metrics.patch_descriptors(level, np.random.default_rng(5), 7, 4)
  assert desc.shape == (8, 3, 7, 7)
  replay = np.random.default_rng(5)
  ys = replay.integers(3, 17, (2, 4))
  xs = replay.integers(3, 21, (2, 4))
  for n in range(2):
    for p in range(4):
      want = level[n, ys[n, p] - 3:ys[n, p] + 4, xs[n, p] - 3:xs[n, p] + 4]
      np.testing.assert_array_equal(desc[n * 4 + p], want.transpose(2, 0, 1))


def test_sliced_wasserstein_of_a_shift_is_the_mean_projected_shift():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(500, 6))
  shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
  assert metrics.sliced_wasserstein(a, a, np.random.default_rng(1)) == 0
  got = metrics.sliced_wasserstein(a, a + shift, np.random.default_rng(1),
                                   repeats=2, directions=16)
  replay = np.random.default_rng(1)
  want = []
  for _ in range(2):
    dirs = replay.standard_normal((6, 16))
    dirs /= np.linalg.norm(dirs, axis=0)
    want.append(np.mean(np.abs(shift @ dirs)))
  np.testing.assert_allclose(got, np.mean(want), rtol=1e-9)


def test_swd_grows_with_the_difference():
  rng = np.random.default_rng(0)
  # Smooth images (random walks); the descriptors are normalised per set,
  # so only the structure of the patches counts, not the scale.
  real = rng.normal(size=(64, 32, 32, 3)).cumsum(1).cumsum(2)
  same = metrics.sliced_wasserstein_distance(
      real, rng.permutation(real), seed=1)
  close = metrics.sliced_wasserstein_distance(
      real, real + rng.normal(0, 0.5, real.shape), seed=1)
  far = metrics.sliced_wasserstein_distance(
      real, rng.normal(size=real.shape), seed=1)
  assert set(close) == {'swd_32', 'swd_16', 'swd'}
  assert far['swd'] > 2 * close['swd'] > 2 * same['swd'] > 0
  with pytest.raises(ValueError, match='16x16'):
    metrics.sliced_wasserstein_distance(real[:, :8, :8], real[:, :8, :8])


@pytest.mark.parametrize('side,scales', [(176, 5), (64, 3)])
def test_ms_ssim_equals_tensorflows(side, scales):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  a = rng.uniform(0, 255, (3, side, side, 3))
  b = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
  ours = metrics.ms_ssim(a, b)
  assert metrics.ms_ssim_scales(side) == scales
  weights = np.asarray(metrics.MS_SSIM_WEIGHTS[:scales])
  want = tf.image.ssim_multiscale(
      tf.constant(a, tf.float64), tf.constant(b, tf.float64), 255.0,
      power_factors=tuple(weights / weights.sum())).numpy()
  # TensorFlow computes in float32 whatever the input's type.
  np.testing.assert_allclose(ours, want, rtol=5e-5)
  np.testing.assert_allclose(metrics.ms_ssim(a, a), 1.0, rtol=1e-12)


def test_ms_ssim_diversity_of_copies_is_one():
  rng = np.random.default_rng(0)
  one = rng.uniform(0, 255, (1, 32, 32, 3))
  assert metrics.ms_ssim_diversity(np.repeat(one, 10, 0), 50) == (
      pytest.approx(1.0))
  varied = rng.uniform(0, 255, (10, 32, 32, 3))
  assert metrics.ms_ssim_diversity(varied, 50) < 0.2
