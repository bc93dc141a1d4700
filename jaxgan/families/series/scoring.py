"""Orion's benchmark scores: overlapping segments, summed per group.

`overlap_counts` is orion.evaluation.contextual_confusion_matrix(...,
weighted=False) (its `_overlap_segment`): every interval [start, end] is
widened to [start, end + 1) (`_pad`), and two intervals overlap when they
share more than a point of that form: (e0 - o1)(e1 - o0) < 0. An expected
window that some detection overlaps is a true positive (once, however many
overlap it), one that none overlaps a false negative, and a detection that
overlaps no expected window a false positive. Orion's benchmark sums tp, fp
and fn over a group's signals and computes precision, recall and F1 from the
sums (benchmark/utils.py::summarize_results).
"""

import numpy as np

# Orion's published TadGAN F1 on NAB (orion-ml 0.7.1, benchmark/results/
# 0.7.1.csv summed per group) and ARIMA's, for the benchmark's table.
ORION_F1 = {
    'artificialWithAnomaly': {'tadgan': 0.500, 'arima': 0.308},
    'realAWSCloudwatch': {'tadgan': 0.710, 'arima': 0.382},
    'realAdExchange': {'tadgan': 0.692, 'arima': 0.727},
    'realTraffic': {'tadgan': 0.486, 'arima': 0.467},
    'realTweets': {'tadgan': 0.588, 'arima': 0.514},
}


def _overlap(a, b) -> bool:
  return (a[0] - b[1]) * (a[1] - b[0]) < 0


def overlap_counts(expected, observed) -> dict[str, int]:
  """{'tp', 'fp', 'fn'} of (start, end) intervals (inclusive ends)."""
  expected = [(s, e + 1) for s, e in expected]
  observed = [(s, e + 1) for s, e in observed]
  tp = fn = 0
  matched = set()
  for window in expected:
    hits = [i for i, o in enumerate(observed) if _overlap(window, o)]
    matched.update(hits)
    if hits:
      tp += 1
    else:
      fn += 1
  return {'tp': tp, 'fp': len(observed) - len(matched), 'fn': fn}


def f1_of(counts: dict[str, int]) -> dict[str, float]:
  """Precision, recall and F1 of summed counts (NaN where undefined, as
  Orion's ZeroDivisionError branches)."""
  tp, fp, fn = counts['tp'], counts['fp'], counts['fn']
  precision = tp / (tp + fp) if tp + fp else float('nan')
  recall = tp / (tp + fn) if tp + fn else float('nan')
  if np.isnan(precision) or np.isnan(recall) or precision + recall == 0:
    f1 = float('nan') if np.isnan(precision) or np.isnan(recall) else 0.0
  else:
    f1 = 2 * precision * recall / (precision + recall)
  return {'precision': precision, 'recall': recall, 'f1': f1}


def summarize(rows: list[dict]) -> dict[str, dict]:
  """Per group (the signal key's folder), the summed counts and their
  precision, recall and F1."""
  groups: dict[str, dict] = {}
  for row in rows:
    group = row['signal'].split('/')[0]
    total = groups.setdefault(group, {'signals': 0, 'tp': 0, 'fp': 0,
                                      'fn': 0})
    total['signals'] += 1
    for k in ('tp', 'fp', 'fn'):
      total[k] += row[k]
  return {g: {**c, **f1_of(c)} for g, c in groups.items()}
