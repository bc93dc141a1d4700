"""Time series for anomaly detection: reading, Orion's preprocessing, windows.

A signal is a CSV with a timestamp column and a value column (NAB's
`timestamp,value` layout, or any CSV naming its columns); its labelled
anomalies are NAB's `combined_windows.json` (`{"<group>/<file>.csv":
[[start, end], ...]}`) or a CSV of intervals (`signal,start,end` or
`start,end`). Timestamps are ISO dates (read as UTC, as NAB's) or epoch
seconds; inside jaxgan they are integer epoch seconds.

The preprocessing is Orion's `tadgan` pipeline (orion-ml 0.7.1,
`orion/pipelines/verified/tadgan/tadgan.json`), one small pure function per
primitive, each naming the one it reproduces:

  aggregate   mlstars time_segments_aggregate(interval, method='mean')
  impute      sklearn SimpleImputer() (the mean)
  scale       sklearn MinMaxScaler(feature_range=(-1, 1))
  windows     mlstars rolling_window_sequences(window_size, target_size=1,
              step_size=1)

Bad input is an error naming the fix, or a repair that `Signal.repairs`
states (and the run's log prints): rows out of order are sorted (Orion
sorts too), several rows in one interval are averaged (the aggregation),
intervals without rows are imputed with the mean (the imputer); a missing
column, a value that is not a number, a series shorter than one window and
labels for a signal that is not there are errors.
"""

import csv
import dataclasses
import datetime
import json
import pathlib

import numpy as np

from jaxgan import errors
from jaxgan import input_pipeline

DataError = input_pipeline.DataError

# NAB's groups in Orion's TadGAN benchmark and their aggregation intervals
# (Orion's tadgan_<group>.json files; ../shared/bench/ORION.md).
NAB_INTERVALS = {
    'artificialWithAnomaly': 600,
    'realAWSCloudwatch': 600,
    'realAdExchange': 3600,
    'realTraffic': 600,
    'realTweets': 600,
}
# Orion's tadgan.json interval, for series of no NAB group.
DEFAULT_INTERVAL = 21600


@dataclasses.dataclass
class Signal:
  """One series: sorted integer epoch seconds and float values."""
  name: str
  timestamps: np.ndarray  # (N,) int64
  values: np.ndarray  # (N,) float64
  repairs: list[str] = dataclasses.field(default_factory=list)


def parse_time(text: str, where: str) -> int:
  """Epoch seconds of an ISO date-time (naive ones are UTC, as NAB's) or
  of a number of seconds."""
  text = text.strip()
  try:
    return int(float(text))
  except ValueError:
    pass
  try:
    moment = datetime.datetime.fromisoformat(text)
  except ValueError as e:
    raise DataError(f'{where}: {text!r} is neither an ISO date-time nor '
                    'epoch seconds') from e
  if moment.tzinfo is None:
    moment = moment.replace(tzinfo=datetime.timezone.utc)
  return int(moment.timestamp())


def read_csv(path, time_column: str = 'timestamp',
             value_column: str = 'value', name: str | None = None) -> Signal:
  """A signal from a CSV with a header naming its time and value columns."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.MissingFileError(
        f'{path} does not exist: a series is a CSV with {time_column!r} and '
        f'{value_column!r} columns (NAB: ../shared/data/nab/data/<group>/'
        '<file>.csv)')
  with open(path, newline='') as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    for column, flag in ((time_column, 'time_column'),
                         (value_column, 'value_column')):
      if column not in header:
        raise DataError(
            f'{path} has no {column!r} column (its header: {header}): name '
            f'the column with --config.data.{flag}')
    t_col, v_col = header.index(time_column), header.index(value_column)
    times, values = [], []
    for row_number, row in enumerate(reader, start=2):
      if not row:
        continue
      where = f'{path}, row {row_number}'
      if len(row) <= max(t_col, v_col):
        raise DataError(f'{where} has {len(row)} fields, the header '
                        f'{len(header)}: fix or remove the row')
      times.append(parse_time(row[t_col], where))
      try:
        value = float(row[v_col]) if row[v_col].strip() else np.nan
      except ValueError as e:
        raise DataError(f'{where}: value {row[v_col]!r} is not a number '
                        '(empty cells are read as missing and imputed)') from e
      if np.isinf(value):
        raise DataError(f'{where}: value {row[v_col]!r} is infinite: fix '
                        'the row or leave the cell empty (imputed)')
      values.append(value)
  return make_signal(name or path.name, np.asarray(times, np.int64),
                     np.asarray(values, np.float64))


def make_signal(name: str, timestamps: np.ndarray,
                values: np.ndarray) -> Signal:
  """A Signal with its rows sorted by time (stated in `repairs`)."""
  if len(timestamps) == 0:
    raise DataError(f'series {name} has no rows')
  repairs = []
  order = np.argsort(timestamps, kind='stable')
  unsorted = int(np.sum(np.diff(timestamps) < 0))
  if unsorted:
    repairs.append(f'{unsorted} rows out of time order: sorted by time '
                   '(as Orion sorts)')
  timestamps, values = timestamps[order], values[order]
  duplicated = len(timestamps) - len(np.unique(timestamps))
  if duplicated:
    repairs.append(f'{duplicated} duplicated timestamps: their values are '
                   'averaged with the rest of their interval')
  missing = int(np.sum(np.isnan(values)))
  if missing:
    repairs.append(f'{missing} empty values: left out of the interval means')
  return Signal(name, timestamps, values, repairs)


def read_labels(path, signals: list[str]) -> dict[str, list[tuple[int, int]]]:
  """{signal: [(start, end), ...]} for `signals`.

  From NAB's windows JSON, which has an entry for every signal, clean ones
  included ([]): a signal read without an entry is an error (a misspelt
  key would otherwise score a labelled signal as clean). From a CSV of
  intervals (columns signal,start,end; or start,end when one signal is
  read): signals without rows are clean, and a row for a signal that is not
  read is an error.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise errors.MissingFileError(
        f'{path} does not exist: labels are NAB\'s combined_windows.json or '
        'a CSV with signal,start,end columns')
  if path.suffix == '.json':
    with open(path) as f:
      table = json.load(f)
    missing = [s for s in signals if s not in table]
    if missing:
      raise DataError(
          f'{path} has no entry for {missing[:3]}{" ..." if len(missing) > 3 else ""}:'
          ' a labels JSON has one per signal, [] for a clean one; name the '
          'series by their keys there (NAB: "<group>/<file>.csv")')
    return {s: [(parse_time(a, str(path)), parse_time(b, str(path)))
                for a, b in table[s]] for s in signals}
  out: dict[str, list[tuple[int, int]]] = {s: [] for s in signals}
  with open(path, newline='') as f:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    if 'start' not in columns or 'end' not in columns:
      raise DataError(f'{path}: a labels CSV has start and end columns '
                      f'(and signal, for several series); it has {columns}')
    for row_number, row in enumerate(reader, start=2):
      key = row.get('signal') or (signals[0] if len(signals) == 1 else None)
      if key is None:
        raise DataError(f'{path}, row {row_number}: several series are read,'
                        ' so every label row names its signal')
      if key not in out:
        raise DataError(f'{path}, row {row_number}: a label for signal '
                        f'{key!r}, which is not among the series read '
                        f'({signals})')
      where = f'{path}, row {row_number}'
      out[key].append((parse_time(row['start'], where),
                       parse_time(row['end'], where)))
  return out


# --- Orion's preprocessing, one primitive each -----------------------------


def aggregate(timestamps: np.ndarray, values: np.ndarray,
              interval: int) -> tuple[np.ndarray, np.ndarray]:
  """Means over consecutive intervals [t0 + k * interval, t0 + (k + 1) *
  interval), from the first timestamp t0 to the last: (index, values), the
  index each interval's start and NaN where an interval holds no value.
  mlstars.custom.timeseries_preprocessing.time_segments_aggregate(
  interval, method='mean'), with its pandas loop as one bincount."""
  t0 = timestamps[0]
  bins = (timestamps - t0) // interval
  count = int(bins[-1]) + 1
  ok = ~np.isnan(values)
  sums = np.bincount(bins[ok], weights=values[ok], minlength=count)
  counts = np.bincount(bins[ok], minlength=count)
  with np.errstate(invalid='ignore', divide='ignore'):
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
  return t0 + interval * np.arange(count, dtype=np.int64), means


def impute(values: np.ndarray) -> np.ndarray:
  """NaN -> the mean of the rest: sklearn.impute.SimpleImputer()."""
  if np.all(np.isnan(values)):
    raise DataError('the series has no values to impute from')
  return np.where(np.isnan(values), np.nanmean(values), values)


def scale(values: np.ndarray, low: float = -1.0, high: float = 1.0):
  """Min-max scaling to [low, high]: sklearn MinMaxScaler(feature_range=
  (low, high)); a constant series (zero range) maps to `low`, as sklearn's
  range of 1 for a zero range does."""
  lo, hi = float(np.min(values)), float(np.max(values))
  span = hi - lo if hi > lo else 1.0
  return (values - lo) / span * (high - low) + low


def windows(values: np.ndarray, window: int, step: int = 1) -> np.ndarray:
  """(n, window) rolling windows starting at 0, step, 2 step, ...: mlstars
  rolling_window_sequences(window_size=window, target_size=1, step_size=
  step), whose windows stop one point short of the end (each has a target
  after it); their first index is `index[starts]`."""
  count = (len(values) - window - 1) // step + 1
  if count < 1:
    raise DataError(
        f'the series has {len(values)} points after aggregation, fewer than '
        f'one window of {window} plus its target: use a shorter '
        '--config.data.window or a smaller --config.data.interval')
  starts = np.arange(count) * step
  return values[starts[:, None] + np.arange(window)]


@dataclasses.dataclass
class Prepared:
  """A signal after Orion's preprocessing."""
  signal: Signal
  index: np.ndarray  # (N,) the intervals' start times
  values: np.ndarray  # (N,) aggregated, imputed, scaled to [-1, 1]
  windows: np.ndarray  # (n, window) float32
  repairs: list[str]


def prepare(signal: Signal, interval: int, window: int) -> Prepared:
  """Aggregation to `interval`, imputation, scaling and windows."""
  index, values = aggregate(signal.timestamps, signal.values, interval)
  repairs = list(signal.repairs)
  empty = int(np.sum(np.isnan(values)))
  if empty:
    repairs.append(f'{empty} of {len(values)} intervals of {interval} s hold '
                   'no value (gaps): imputed with the mean (Orion\'s '
                   'SimpleImputer)')
  values = scale(impute(values))
  return Prepared(signal, index, values,
                  windows(values, window).astype(np.float32), repairs)


def nab_signals(nab_dir, groups) -> list[str]:
  """The keys `<group>/<file>.csv` of NAB's groups, sorted."""
  root = pathlib.Path(nab_dir) / 'data'
  keys = []
  for group in groups:
    folder = root / group
    if not folder.is_dir():
      raise errors.MissingFileError(
          f'{folder} does not exist: --nab_dir is NAB\'s folder (data/<group>/'
          '*.csv, labels/combined_windows.json; ../shared/data/nab here)')
    keys += [f'{group}/{p.name}' for p in sorted(folder.glob('*.csv'))]
  return keys


class SeriesData:
  """One signal's windows, its labels, and batches of (seed, step)."""

  def __init__(self, config):
    d = self.data = config.data
    self.config = config
    path, self.name = self._source(d)
    signal = read_csv(path, d.time_column, d.value_column, self.name)
    self.interval = int(d.interval or NAB_INTERVALS.get(
        self.name.split('/')[0], DEFAULT_INTERVAL))
    self.prepared = prepare(signal, self.interval, d.window)
    self.windows = self.prepared.windows
    self.num_examples = len(self.windows)
    labels = self._labels_path(d)
    self.labels = (read_labels(labels, [self.name])[self.name]
                   if labels else None)
    minibatch = config.train.n_critic * config.train.batch_size
    self.steps_per_epoch = self.num_examples // minibatch

  @staticmethod
  def _source(d) -> tuple[pathlib.Path, str]:
    if d.csv:
      return pathlib.Path(d.csv), d.signal or pathlib.Path(d.csv).name
    if d.signal and d.data_dir:
      nab = pathlib.Path(d.data_dir) / 'data' / d.signal
      plain = pathlib.Path(d.data_dir) / d.signal
      return (plain if plain.is_file() and not nab.is_file() else nab,
              d.signal)
    raise DataError(
        'the series family reads one signal: --config.data.csv=FILE.csv, or '
        '--config.data.data_dir=NAB_DIR --config.data.signal=<group>/'
        '<file>.csv (NAB here: ../shared/data/nab)')

  @staticmethod
  def _labels_path(d):
    if d.labels:
      return pathlib.Path(d.labels)
    if d.data_dir and not d.csv:
      nab = pathlib.Path(d.data_dir) / 'labels' / 'combined_windows.json'
      return nab if nab.is_file() else None
    return None

  @property
  def spec(self) -> dict:
    return {'window': self.data.window, 'num_examples': self.num_examples}

  def describe(self) -> str:
    p = self.prepared
    text = (f'{self.name}: {len(p.signal.timestamps):,} rows -> '
            f'{len(p.values):,} points of {self.interval} s -> '
            f'{self.num_examples:,} windows of {self.data.window}, '
            f'{self.steps_per_epoch} iterations per epoch; labels: '
            f'{"none" if self.labels is None else len(self.labels)}')
    return text + ''.join(f'; repaired: {r}' for r in p.repairs)

  def meta(self) -> dict:
    return {'dataset': self.name, 'sample_shape': [self.data.window, 1],
            'num_classes': 0, 'num_examples': self.num_examples,
            'interval': self.interval}

  def batch(self, step: int, process_index: int = 0,
            process_count: int = 1) -> dict[str, np.ndarray]:
    """{'series': (n_critic, b, T, 1)}: minibatch `step % steps_per_epoch`
    of epoch `step // steps_per_epoch`'s permutation (Orion's epochs: the
    windows past the last whole minibatch sit the epoch out)."""
    t = self.config.train
    epoch, i = divmod(step, self.steps_per_epoch)
    order = input_pipeline.epoch_permutation(self.config.seed, epoch,
                                             self.num_examples)
    minibatch = t.n_critic * t.batch_size
    rows = order[i * minibatch:(i + 1) * minibatch].reshape(
        t.n_critic, t.batch_size)
    local = t.batch_size // process_count
    rows = rows[:, process_index * local:(process_index + 1) * local]
    return {'series': self.windows[rows][..., None]}
