"""From reconstructions and critic scores to anomalous intervals, as Orion.

Each function is a step of Orion's TadGAN pipeline (orion-ml 0.7.1), named
in its docstring, written with NumPy on whole arrays where Orion loops in
Python; the tests hold them to hand-made cases and plain loops.

  unroll            the per-timestamp median of the overlapping windows'
                    reconstructions (timeseries_errors.reconstruction_errors)
  critic_per_point  the densest critic value over the windows covering each
                    timestamp (tadgan.score_anomalies' gaussian_kde loop)
  critic_score      tadgan._compute_critic_score
  point_error, area_error, dtw_error
                    timeseries_errors._point_wise_error, _area_error,
                    _dtw_error
  score             tadgan.score_anomalies: the above, smoothed, z-scored and
                    combined ('mult', 'sum' with lambda_rec, or 'rec')
  find_anomalies    timeseries_anomalies.find_anomalies: thresholds per
                    sliding window, padding, pruning, merging
"""

import math
import warnings

import numpy as np
from scipy import optimize
from scipy import stats

REC_ERRORS = ('point', 'area', 'dtw')
COMBINATIONS = ('mult', 'sum', 'rec')


def rolling_mean(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
  """pandas' Series(x).rolling(window, center=True, min_periods).mean(): the
  mean of x[i - window + 1 + (window - 1) // 2 .. i + (window - 1) // 2]
  within the array, NaN where that holds fewer than min_periods values."""
  return _rolling(x, window, min_periods, 'mean')


def _rolling(x, window, min_periods, how):
  x = np.asarray(x, np.float64)
  n = len(x)
  offset = (window - 1) // 2
  end = np.minimum(np.arange(n) + offset + 1, n)
  start = np.clip(np.arange(n) + offset + 1 - window, 0, n)
  ok = ~np.isnan(x)
  sums = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
  counts = np.concatenate([[0], np.cumsum(ok)])
  total, count = sums[end] - sums[start], counts[end] - counts[start]
  if how == 'trapz':
    # The trapezoid rule with unit spacing: the sum less half of the two
    # ends (NaN-free input; a single value integrates to 0).
    total = total - 0.5 * (x[start] + x[end - 1])
    value = total
  else:
    with np.errstate(invalid='ignore', divide='ignore'):
      value = total / count
  return np.where(count >= max(min_periods, 1), value, np.nan)


def unroll(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(n, w) windows of step 1 -> (n + w - 1, w) with row i holding the values
  the windows give timestamp i (window k's entry i - k) and NaN elsewhere,
  so reductions over axis 1 are Orion's loops over `intermediate`."""
  n, w = windows.shape
  table = np.full((n + w - 1, w), np.nan)
  rows = np.arange(n)[:, None] + np.arange(w)
  table[rows, np.arange(w)[None, :]] = windows
  return table


def series_of(windows: np.ndarray) -> np.ndarray:
  """The series windows of step 1 were cut from: each window's first value,
  then the rest of the last (Orion's `true`)."""
  return np.concatenate([windows[:, 0], windows[-1, 1:]])


def predictions(windows_hat: np.ndarray) -> np.ndarray:
  """Per timestamp, the median of the reconstructions of it: the
  `predictions` of timeseries_errors.reconstruction_errors (step 1)."""
  return np.nanmedian(unroll(windows_hat), axis=1)


def critic_per_point(critic: np.ndarray, window: int) -> np.ndarray:
  """Per timestamp, of the critic scores of the windows covering it, the one
  where their Gaussian KDE (scipy's gaussian_kde, Scott's bandwidth) is
  highest; one score or equal scores give the median (Orion's fallback on
  gaussian_kde's LinAlgError). tadgan.score_anomalies' `critic_kde_max`
  loop, vectorized: the density's argmax needs no normalization, so it is
  argmax_a sum_b exp(-(c_a - c_b)^2 / (2 var n^(-2/5))) with var the
  scores' variance (ddof 1) and n their count."""
  critic = np.asarray(critic, np.float64).reshape(-1)
  table = unroll(np.repeat(critic[:, None], window, axis=1))
  out = np.empty(len(table))
  for lo in range(0, len(table), 512):
    block = table[lo:lo + 512]
    ok = ~np.isnan(block)
    count = ok.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'), warnings.catch_warnings():
      # One score (the series' ends): no variance, the median below.
      warnings.simplefilter('ignore', RuntimeWarning)
      var = np.nanvar(block, axis=1, ddof=1)
      bandwidth2 = var * count.astype(np.float64) ** (-0.4)
      diff = block[:, :, None] - block[:, None, :]
      density = np.nansum(
          np.exp(-diff ** 2 / (2 * bandwidth2[:, None, None])), axis=2)
    density = np.where(ok, density, -np.inf)
    pick = np.take_along_axis(block, np.argmax(density, 1)[:, None], 1)[:, 0]
    degenerate = (count < 2) | ~(var > 0)
    out[lo:lo + 512] = np.where(degenerate, np.nanmedian(block, axis=1), pick)
  return out


def critic_score(critic: np.ndarray, smooth_window: int) -> np.ndarray:
  """tadgan._compute_critic_score: |c - mean of the interquartile scores| /
  std + 1, then a centred rolling mean."""
  lo, hi = np.quantile(critic, 0.25), np.quantile(critic, 0.75)
  middle = critic[(critic >= lo) & (critic <= hi)]
  z = np.abs((critic - np.mean(middle)) / np.std(critic)) + 1
  return rolling_mean(z, smooth_window, smooth_window // 2)


def point_error(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
  """timeseries_errors._point_wise_error: |y - y_hat|."""
  return np.abs(y - y_hat)


def area_error(y: np.ndarray, y_hat: np.ndarray,
               score_window: int = 10) -> np.ndarray:
  """timeseries_errors._area_error: |trapezoid area of y - of y_hat| over
  centred rolling windows (at least score_window // 2 points)."""
  area = lambda v: _rolling(v, score_window, score_window // 2, 'trapz')
  return np.abs(area(y) - area(y_hat))


def dtw(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Classic DTW with squared differences, its square root (pyts.metrics.
  dtw's default), of each row of x against the same row of y: (m, L) ->
  (m,), the dynamic program run on all rows at once."""
  m, length = x.shape
  cost = (x[:, :, None] - y[:, None, :]) ** 2
  acc = np.empty_like(cost)
  acc[:, 0] = np.cumsum(cost[:, 0], axis=1)
  acc[:, :, 0] = np.cumsum(cost[:, :, 0], axis=1)
  for i in range(1, length):
    for j in range(1, length):
      acc[:, i, j] = cost[:, i, j] + np.minimum(
          np.minimum(acc[:, i - 1, j - 1], acc[:, i - 1, j]), acc[:, i, j - 1])
  return np.sqrt(acc[:, -1, -1])


def dtw_error(y: np.ndarray, y_hat: np.ndarray,
              score_window: int = 10) -> np.ndarray:
  """timeseries_errors._dtw_error: the DTW distance of y and y_hat over
  windows of L = 2 (score_window // 2) + 1 points of the zero-padded series.
  As Orion: the window starting at padded position i is centred on point i
  but written at position i + L // 2, the last L + 1 windows are not
  computed, and the ends are 0."""
  length = (score_window // 2) * 2 + 1
  half = length // 2
  n = len(y)
  count = max(n - length, 0)
  y_pad, h_pad = np.pad(y, half), np.pad(y_hat, half)
  starts = np.arange(count)[:, None] + np.arange(length)
  errors = np.zeros(n)
  if count:
    errors[half:half + count] = dtw(y_pad[starts], h_pad[starts])
  return errors


def score(windows: np.ndarray, windows_hat: np.ndarray, critic: np.ndarray,
          score_window: int = 10, critic_smooth_window: int | None = None,
          error_smooth_window: int | None = None, smooth: bool = True,
          rec_error_type: str = 'point', comb: str = 'mult',
          lambda_rec: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
  """tadgan.score_anomalies for windows of step 1: (anomaly score per
  timestamp, the reconstructed series). The smoothing windows default to
  1% of the number of windows, as Orion's."""
  if rec_error_type not in REC_ERRORS:
    raise ValueError(f'rec_error_type {rec_error_type!r}: one of {REC_ERRORS}')
  if comb not in COMBINATIONS:
    raise ValueError(f'comb {comb!r}: one of {COMBINATIONS}')
  windows = windows.reshape(len(windows), -1).astype(np.float64)
  windows_hat = windows_hat.reshape(windows.shape).astype(np.float64)
  n, w = windows.shape
  critic_smooth_window = critic_smooth_window or math.trunc(n * 0.01)
  error_smooth_window = error_smooth_window or math.trunc(n * 0.01)
  critic_scores = critic_score(critic_per_point(critic, w),
                               critic_smooth_window)
  y, y_hat = series_of(windows), predictions(windows_hat)
  if rec_error_type == 'point':
    errors = point_error(y, y_hat)
  elif rec_error_type == 'area':
    errors = area_error(y, y_hat, score_window)
  else:
    errors = dtw_error(y, y_hat, score_window)
  if smooth:
    errors = rolling_mean(errors, error_smooth_window,
                          error_smooth_window // 2)
  rec_scores = np.clip(stats.zscore(errors), 0, None) + 1
  if comb == 'mult':
    final = critic_scores * rec_scores
  elif comb == 'sum':
    final = (1 - lambda_rec) * (critic_scores - 1) + lambda_rec * (
        rec_scores - 1)
  else:
    final = rec_scores
  return final, y_hat


# --- The anomaly search (timeseries_anomalies) -----------------------------


def fixed_threshold(errors: np.ndarray, k: float = 4.0) -> float:
  """_fixed_threshold: mean + k std."""
  return float(errors.mean() + k * errors.std())


def _z_cost(z, errors, mean, std):
  """z_cost: minus the drop in mean and std when the errors above
  mean + z std are removed, over (count above + runs above ^ 2)."""
  epsilon = mean + z * std
  below = errors[errors <= epsilon]
  if not len(below):
    delta_mean = delta_std = 0.0
  else:
    delta_mean, delta_std = mean - below.mean(), std - below.std()
  above = errors > epsilon
  runs = int(np.sum(above & ~np.concatenate([[False], above[:-1]])))
  denominator = int(above.sum()) + runs ** 2
  if denominator == 0:
    return np.inf
  return -(delta_mean / mean + delta_std / std) / denominator


def dynamic_threshold(errors: np.ndarray, z_range=(0, 12)) -> float:
  """_find_threshold: scipy's fmin of z_cost from each integer z in
  z_range, the best z's mean + z std."""
  mean, std = errors.mean(), errors.std()
  best_z, best_cost = z_range[0], np.inf
  for z in range(*z_range):
    found = optimize.fmin(_z_cost, z, args=(errors, mean, std),
                          full_output=True, disp=False)
    if found[1] < best_cost:
      best_z, best_cost = found[0][0], found[1]
  return float(mean + best_z * std)


def find_sequences(errors: np.ndarray, epsilon: float,
                   padding: int) -> tuple[np.ndarray, float]:
  """_find_sequences: the runs of errors above epsilon, each widened by
  `padding` on both sides, as (start, end) rows (inclusive), and the
  largest error outside them (0 when there is none)."""
  above = errors > epsilon
  if padding and above.any():
    # Each point above marks [i - padding, i + padding]: a running count.
    marks = np.zeros(len(errors) + 1, np.int64)
    hits = np.flatnonzero(above)
    np.add.at(marks, np.maximum(hits - padding, 0), 1)
    np.add.at(marks, np.minimum(hits + padding + 1, len(errors)), -1)
    above = np.cumsum(marks[:-1]) > 0
  max_below = float(errors[~above].max()) if (~above).any() else 0.0
  edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
  starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
  return np.stack([starts, ends], 1), max_below


def prune(sequences: np.ndarray, errors: np.ndarray, max_below: float,
          min_percent: float) -> list[tuple[int, int, float]]:
  """_get_max_errors then _prune_anomalies: the sequences by their largest
  error, descending, with max_below last; a sequence is kept when it or
  one ranked below it exceeds the next one down by min_percent or more."""
  rows = [(-1, -1, max_below)] + [
      (int(a), int(b), float(errors[a:b + 1].max())) for a, b in sequences]
  # pandas' sort_values(ascending=False); ties keep no particular order.
  rows.sort(key=lambda r: -r[2])
  peaks = np.array([r[2] for r in rows])
  with np.errstate(invalid='ignore', divide='ignore'):
    increase = (peaks[:-1] - peaks[1:]) / peaks[:-1]
  keep = np.flatnonzero(~(increase < min_percent))
  last = keep[-1] if len(keep) else -1
  return rows[:last + 1]


def merge(sequences: list) -> list[tuple[int, int, float]]:
  """_merge_sequences: overlapping or touching (start <= previous end + 1)
  sequences become one, scored by the average of their scores weighted by
  their lengths (end - start; equal weights where those are all 0)."""
  if not sequences:
    return []
  ordered = sorted(sequences, key=lambda s: s[0])
  merged = [tuple(ordered[0])]
  scores, weights = [ordered[0][2]], [ordered[0][1] - ordered[0][0]]
  for start, end, value in ordered[1:]:
    prev = merged[-1]
    if start <= prev[1] + 1:
      scores.append(value)
      weights.append(end - start)
      mean = (np.average(scores, weights=weights) if sum(weights)
              else float(np.mean(scores)))
      merged[-1] = (prev[0], max(prev[1], end), float(mean))
    else:
      scores, weights = [value], [end - start]
      merged.append((start, end, value))
  return merged


def find_anomalies(errors: np.ndarray, index: np.ndarray,
                   window_size_portion: float = 0.33,
                   window_step_size_portion: float = 0.1,
                   fixed: bool = True, z_range=(0, 12),
                   min_percent: float = 0.13, anomaly_padding: int = 50,
                   lower_threshold: bool = False) -> np.ndarray:
  """timeseries_anomalies.find_anomalies with the `tadgan` pipeline's
  settings as defaults: windows of ceil(33%) of the errors moved by
  ceil(10%) of that; in each a threshold (mean + 4 std when `fixed`, else
  the dynamic one), the runs above it padded by 50, pruned (min_percent
  0.13) and scored ((max - threshold) / (mean + std) of the window);
  `lower_threshold` also searches the window flipped about its mean. The
  windows' sequences are merged. -> (k, 3): start and end as `index`
  values, score."""
  errors = np.asarray(errors, np.float64)
  size = int(np.ceil(len(errors) * window_size_portion))
  step = int(np.ceil(size * window_step_size_portion))
  found = []
  start = end = 0
  while end < len(errors):
    end = start + size
    window = errors[start:end]
    views = [window]
    if lower_threshold:
      views.append(window.mean() - (window - window.mean()))
    for view in views:
      threshold = (fixed_threshold(view) if fixed
                   else dynamic_threshold(view, z_range))
      sequences, max_below = find_sequences(view, threshold, anomaly_padding)
      denominator = view.mean() + view.std()
      for a, b, peak in prune(sequences, view, max_below, min_percent):
        found.append((a + start, b + start, (peak - threshold) / denominator))
    start += step
  return np.array([(index[a], index[b], s) for a, b, s in merge(found)],
                  np.float64).reshape(-1, 3)
