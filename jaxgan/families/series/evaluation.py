"""Detection during and after training: intervals, anomalies.csv and F1.

`detect_intervals` runs the trained detector over every window of the
signal (reconstructions G(E(x)) and critic scores Cx(x), batched), scores
them as Orion's score_anomalies and searches them as its find_anomalies
(`detect.py`, with config.eval's settings). The evaluator writes the
intervals to WORKDIR/anomalies.csv (`signal,start,end,severity`, epoch
seconds) and, when the signal has labels, reports Orion's overlap counts
and F1 (`scoring.py`). It runs at the end of training, and every
config.eval_every steps when that is set.
"""

import csv
import os

import numpy as np

from jaxgan import evaluate
from jaxgan.families.series import detect
from jaxgan.families.series import scoring

PREDICT_BATCH = 1024


def reconstruct(predict, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(reconstructions (n, T), critic scores (n,)) of windows (n, T), in
  batches of PREDICT_BATCH (the last one padded: one shape compiles, for
  every signal)."""
  recs, critics = [], []
  for lo in range(0, len(windows), PREDICT_BATCH):
    chunk = windows[lo:lo + PREDICT_BATCH]
    size = len(chunk)
    if size < PREDICT_BATCH:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], PREDICT_BATCH -
                                               size, 0)])
    out = predict({'series': chunk[..., None]})
    recs.append(np.asarray(out['reconstruction'])[:size, :, 0])
    critics.append(np.asarray(out['critic'])[:size])
  return np.concatenate(recs), np.concatenate(critics)


def detect_intervals(eval_config, prepared, predict) -> np.ndarray:
  """(k, 3) rows of start, end (epoch seconds) and severity."""
  e = eval_config
  rec, critic = reconstruct(predict, prepared.windows)
  errors, _ = detect.score(
      prepared.windows, rec, critic, score_window=e.score_window,
      rec_error_type=e.rec_error_type, comb=e.comb, lambda_rec=e.lambda_rec)
  return detect.find_anomalies(
      errors, prepared.index, window_size_portion=e.window_size_portion,
      window_step_size_portion=e.window_step_size_portion,
      fixed=e.fixed_threshold, min_percent=e.min_percent,
      anomaly_padding=e.anomaly_padding)


def write_anomalies(path: str, signal: str, anomalies: np.ndarray):
  """`signal,start,end,severity` rows, times as integer epoch seconds."""
  with open(path, 'w', newline='') as f:
    out = csv.writer(f)
    out.writerow(['signal', 'start', 'end', 'severity'])
    for start, end, severity in anomalies:
      out.writerow([signal, int(start), int(end), f'{severity:.6g}'])


def read_anomalies(path: str) -> list[tuple[int, int, float]]:
  with open(path, newline='') as f:
    return [(int(r['start']), int(r['end']), float(r['severity']))
            for r in csv.DictReader(f)]


def signal_scores(labels, anomalies) -> dict:
  """Overlap counts and F1 of one signal's detections."""
  counts = scoring.overlap_counts(labels, [(a, b) for a, b, _ in anomalies])
  return {**counts, **scoring.f1_of(counts)}


class SeriesEvaluator:
  """Detects, writes WORKDIR/anomalies.csv, scores against the labels."""
  primary = 'eval/f1'
  higher_is_better = True

  def __init__(self, config, data, workdir: str, write: bool = True):
    self.config, self.data, self.workdir = config, data, workdir
    self.write = write
    self.history = evaluate.History(workdir, write)

  def evaluate(self, step: int, predict) -> dict[str, float]:
    anomalies = detect_intervals(self.config.eval, self.data.prepared,
                                 predict)
    if self.write:
      write_anomalies(os.path.join(self.workdir, 'anomalies.csv'),
                      self.data.name, anomalies)
    scalars = {'eval/anomalies': float(len(anomalies))}
    if self.data.labels is not None:
      scores = signal_scores(self.data.labels, anomalies)
      scalars.update({f'eval/{k}': float(v) for k, v in scores.items()})
    self.history.record(step, scalars)
    return scalars
