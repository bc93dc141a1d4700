"""Which form each convolution takes on this machine: measured, cached.

A convolution layer (`layers.DownConv`, `UpConv`, `PatchConv`) can be
computed in several forms that give the same numbers to float tolerance
(XLA's convolution, im2col + one dot, space-to-depth, phase-wise dots,
col2im; `layers` registers them here). Which is fastest depends on the
layer's shapes, on whether it is differentiated once or twice, and on the
processor: rules timed on one CPU (`rule`) were 2x off on another. With
`config.model.conv_impl='auto'` on a CPU, the layers ask `choose(site)`
while they are traced, and the answer comes from a table filled by
measurement:

  1. `prepare(fn, *args)` traces `fn` (one training iteration) abstractly
     and records every convolution site it meets: kind, input shape,
     output features, dtype, kernel size and padding, and the order of
     differentiation (2 in a critic under a gradient penalty);
  2. sites already in this machine's cache file take its choice;
  3. the others are timed, largest first, within a budget of seconds
     (`JAXGAN_CONV_TUNING_S`, default 60): each valid form alone, compiled
     doing two iterations of the forward pass and both gradients, inside a
     `lax.scan` when the iteration runs in one (`steps_per_dispatch` > 1:
     XLA:CPU runs some gradients 20-40x slower inside a loop body than
     outside), else unrolled (where XLA's own convolution gradients are
     fast: SRResNet's 3x3 and 9x9 layers); the two are cached apart (a second order one too where the site has order 2), in
     alternating rounds (`measure`); the rule's form wins unless another is
     faster by MARGIN. A form that wins alone is then tried in the whole
     iteration (`fn` compiled and run against the current choices) and kept
     only if that gets faster by STEP_MARGIN in two races in a row: alone,
     a layer misses its neighbours' fusions and memory traffic. The forms
     rejected one at a time are then tried once all together (small gains
     add up). Sites left
     when the budget runs out keep the rule's form, and the next start goes
     on with them;
  4. the choices go to the cache file, named by this machine's fingerprint
     (CPU model, family, model, flags, usable cores, jax and jaxlib
     versions, XLA_FLAGS, backend) under `JAXGAN_CACHE` (default
     ~/.cache/jaxgan), so the next start takes them at once. A corrupt file,
     or one written on another machine, is ignored with a warning.

Under several processes, process 0 decides and broadcasts its table (its
cached choices, else the rules': nothing is timed), so that every process
compiles the same program. JAXGAN_CONV_TUNING_S=0 turns
measurement and the cache off: 'auto' then takes the rules' forms, which is
what `conv_impl='matmul'` pins.
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import platform
import time
from typing import Callable, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

BUDGET_ENV = 'JAXGAN_CONV_TUNING_S'
DEFAULT_BUDGET_S = 60.0
# 2: the entries of iterations outside a loop timed outside one (1 timed
# every site inside a lax.scan, against XLA's convolutions).
CACHE_VERSION = 2
# The rule's form is kept unless another is faster by more than this share:
# run-to-run noise on a busy 2-core host is 5-20%, and a choice that flips
# between starts would change the compiled program for nothing.
MARGIN = 0.05
# A form that won alone is kept only if the whole iteration gets faster by
# more than this, in two races in a row: on a shared 2-core host the best of
# 4 runs of one program moved by up to 40% between races a minute apart.
STEP_MARGIN = 0.05
_ROUNDS = 3


class Site(NamedTuple):
  """One convolution as a layer meets it (shapes as traced)."""
  # 'down' (4x4 stride 2), 'up' (transposed, stride 2: 4x4 UpConv or 3x3
  # UpConv3), 'patch' (k x k)
  kind: str
  shape: tuple  # the input, (B, H, W, C)
  features: int
  dtype: str
  order: int  # 1: differentiated once, 2: also a gradient penalty's 2nd
  kernel_size: int = 4
  padding: int = 1
  stride: int = 1  # 'patch' only

  @property
  def key(self) -> str:
    b, h, w, c = self.shape
    # Stride 1 is left out of the key, so the entries cached before strided
    # patch convolutions existed still match.
    stride = f's{self.stride}' if self.stride != 1 else ''
    return (f'{self.kind}:k{self.kernel_size}p{self.padding}{stride}:'
            f'{b}x{h}x{w}x{c}->{self.features}:{self.dtype}:d{self.order}')

  def flops(self) -> int:
    b, h, w, c = self.shape
    k = self.kernel_size ** 2
    if self.kind == 'up':
      return 2 * b * h * w * c * k * self.features
    stride = self.stride if self.kind == 'patch' else 2
    out = ((h + 2 * self.padding - self.kernel_size) // stride + 1) * (
        (w + 2 * self.padding - self.kernel_size) // stride + 1)
    return 2 * b * out * k * c * self.features


@dataclasses.dataclass(frozen=True)
class Form:
  build: Callable  # site -> f(x, kernel) -> y
  valid: Callable  # site -> bool
  measured: bool  # a candidate of the measurement on CPU


_FORMS: dict[str, dict[str, Form]] = {}
_RULES: dict[str, Callable] = {}


def register(kind: str, name: str, build, valid=lambda site: True,
             measured: bool = True):
  _FORMS.setdefault(kind, {})[name] = Form(build, valid, measured)


def register_rule(kind: str, rule):
  """rule(site) -> the form's name that the timed-once rules choose."""
  _RULES[kind] = rule


def rule(site: Site) -> str:
  return _RULES[site.kind](site)


def candidates(site: Site) -> list[str]:
  return [name for name, f in _FORMS[site.kind].items()
          if f.measured and f.valid(site)]


def build(site: Site, name: str):
  return _FORMS[site.kind][name].build(site)


# This process's choices, key -> form name: once a key has a form, every
# later trace in the process takes it (a resumed run compiles the same
# program as the run it continues). _CACHED: this machine's cache file, read
# once per process.
_TABLE: dict[str, str] = {}
_CACHED: dict[str, dict] | None = None
_RECORDING: list[dict] = []


def reset():
  """Forgets this process's choices and cache reading (tests)."""
  global _CACHED
  _TABLE.clear()
  _CACHED = None


def budget_s() -> float:
  value = os.environ.get(BUDGET_ENV, '')
  try:
    return float(value) if value else DEFAULT_BUDGET_S
  except ValueError as e:
    raise ValueError(f'{BUDGET_ENV}={value!r}: give the seconds that the '
                     'convolution forms may be timed for (0: no timing, '
                     'the rules choose)') from e


def _cached() -> dict[str, dict]:
  """This machine's cache file's entries, read once per process."""
  global _CACHED
  if _CACHED is None:
    _CACHED = _read_cache(cache_path())
  return _CACHED


def _stale(site: Site, entry: dict) -> bool:
  """Timed among other forms than today's (a form added since)."""
  return bool(entry.get('ms')) and set(entry['ms']) != set(candidates(site))


def cache_key(site: Site, looped: bool) -> str:
  """The site's cache entry: timed inside a loop body or not."""
  return site.key + (':loop' if looped else '')


def _cached_form(site: Site, looped: bool = False) -> str | None:
  entry = _cached().get(cache_key(site, looped), {})
  return None if _stale(site, entry) else entry.get('form')


def choose(site: Site) -> str:
  """The form of `site`: this process's choice, else the cache's, else the
  rule's."""
  for recorder in _RECORDING:
    recorder.setdefault(site.key, site)
  form = _TABLE.get(site.key)
  # Several processes take only process 0's table (`prepare`): each must
  # compile the same program.
  # While `prepare` records, the cache is its to read (its entries differ
  # for iterations inside a loop).
  if (form is None and not _RECORDING and budget_s() > 0 and
      jax.process_count() == 1):
    form = _cached_form(site)
    if form is not None:
      _TABLE[site.key] = form
  return form or rule(site)


@contextlib.contextmanager
def _recording():
  sites = {}
  _RECORDING.append(sites)
  try:
    yield sites
  finally:
    _RECORDING.remove(sites)


# --- The machine and its cache file. ---


@functools.cache
def _cpu_info() -> dict:
  """The processor, from /proc/cpuinfo where there is one (read once)."""
  info = {'processor': platform.processor(), 'machine': platform.machine()}
  try:
    with open('/proc/cpuinfo') as f:
      block = f.read().split('\n\n')[0]
  except OSError:
    return info
  fields = dict(line.split(':', 1) for line in block.splitlines()
                if ':' in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  flags = sorted(fields.get('flags', '').split())
  info.update(model_name=fields.get('model name', ''),
              vendor=fields.get('vendor_id', ''),
              family=fields.get('cpu family', ''),
              model=fields.get('model', ''),
              flags_md5=hashlib.md5(' '.join(flags).encode()).hexdigest(),
              avx512f='avx512f' in flags)
  return info


def machine() -> dict:
  """What the choices depend on, besides the sites."""
  import jaxlib  # pylint: disable=g-import-not-at-top
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:
    cores = os.cpu_count()
  return {'cpu': _cpu_info(), 'cores': cores, 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__,
          'xla_flags': os.environ.get('XLA_FLAGS', ''),
          'backend': jax.default_backend()}


def cache_path() -> str:
  from jaxgan import cache  # pylint: disable=g-import-not-at-top
  fingerprint = hashlib.md5(json.dumps(machine(), sort_keys=True).encode())
  return os.path.join(cache.directory(),
                      f'conv-forms-{fingerprint.hexdigest()[:16]}.json')


def _read_cache(path: str, quiet: bool = False) -> dict[str, dict]:
  """The cached entries for this machine; {} (with a warning, unless
  `quiet`) when the file is corrupt or was written on another machine."""
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      content = json.load(f)
    if content.get('version') != CACHE_VERSION:
      raise ValueError(f'version {content.get("version")!r}, not '
                       f'{CACHE_VERSION}')
    entries = content['sites']
    for key, entry in entries.items():
      kind = key.split(':', 1)[0]
      for field in ('form', 'alone'):
        if field in entry and entry[field] not in _FORMS.get(kind, {}):
          raise ValueError(f'unknown form {entry[field]!r} for {key}')
      if 'form' not in entry and 'alone' not in entry:
        raise ValueError(f'no form for {key}')
      if 'alone' in entry:
        entry['ms'][entry['alone']]  # pylint: disable=pointless-statement
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    if quiet:
      return {}
    logging.warning('Ignoring the convolution form cache %s: it is corrupt '
                    '(%s). The forms are timed again and the file rewritten.',
                    path, e)
    return {}
  if content.get('machine') != machine():
    if quiet:
      return {}
    logging.warning('Ignoring the convolution form cache %s: it was written '
                    'on another machine or software (%s), not this one (%s). '
                    'The forms are timed again and the file rewritten.', path,
                    content.get('machine'), machine())
    return {}
  return entries


def _write_cache(path: str, new: dict[str, dict]):
  entries = _read_cache(path, quiet=True)  # What other runs added meanwhile.
  entries.update(new)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump({'version': CACHE_VERSION, 'machine': machine(),
               'sites': entries}, f, indent=1, sort_keys=True)
  os.replace(tmp, path)


# --- Measurement. ---


def _benchmark(form, site: Site, looped: bool = False):
  """Two iterations of the form's forward pass and gradients, compiled (a
  `lax.scan` if `looped`, else unrolled), and its arguments."""
  dtype = jnp.dtype(site.dtype)
  kernel_shape = (site.kernel_size, site.kernel_size, site.shape[-1],
                  site.features)
  out = jax.eval_shape(form, jax.ShapeDtypeStruct(site.shape, dtype),
                       jax.ShapeDtypeStruct(kernel_shape, dtype))

  def loss(x, k, ct):
    return jnp.vdot(form(x, k).astype(jnp.float32), ct)

  def total(x, k, ct):
    value = loss(x, k, ct)
    if site.order == 2:  # + a gradient penalty's |d loss / d x|^2
      gx = jax.grad(loss)(x, k, ct).astype(jnp.float32)
      value = value + jnp.vdot(gx, gx)
    return value

  def iteration(carry, _):
    x, k, ct = carry
    gx, gk = jax.grad(total, argnums=(0, 1))(x, k, ct)
    return (x - 1e-3 * gx, k - 1e-3 * gk, ct), None

  def run(x, k, ct):
    carry = (x, k, ct)
    if looped:
      carry, _ = jax.lax.scan(iteration, carry, None, length=2)
    else:
      for _ in range(2):
        carry, _ = iteration(carry, None)
    return carry[:2]

  rng = np.random.default_rng(0)
  args = (jnp.asarray(rng.normal(size=site.shape) * 0.1, dtype),
          jnp.asarray(rng.normal(size=kernel_shape) * 0.1, dtype),
          jnp.asarray(rng.normal(size=out.shape), jnp.float32))
  return jax.jit(run).lower(*args).compile(), args


def _seconds(compiled, args) -> float:
  start = time.perf_counter()
  jax.block_until_ready(compiled(*args))
  return time.perf_counter() - start


def measure(site: Site, looped: bool = False) -> dict:
  """{'alone': the fastest form of the site alone, 'ms': {form: its best
  milliseconds}}: the rule's form unless another is faster by MARGIN.
  `looped`: timed inside a loop body, as an iteration of a `lax.scan`."""
  compiled, best = {}, {}
  for name in candidates(site):
    compiled[name] = _benchmark(build(site, name), site, looped)
    best[name] = _seconds(*compiled[name])  # Warm-up: an upper bound.
  # Some forms run 20-100x slower than the others inside a loop body (XLA's
  # own convolution gradients, at some shapes): no more calls for them.
  fastest = min(best.values())
  compiled = {n: c for n, c in compiled.items() if best[n] <= 10 * fastest}
  for r in range(_ROUNDS):
    for name, (fn, args) in compiled.items():
      best[name] = min(best[name], _seconds(fn, args))
    if r == 0:  # Forms 2x behind the fastest get no more rounds.
      fastest = min(best.values())
      compiled = {n: c for n, c in compiled.items()
                  if best[n] <= 2 * fastest}
  choice = min(best, key=best.get)
  fallback = rule(site)
  if fallback in best and best[fallback] <= (1 + MARGIN) * best[choice]:
    choice = fallback
  return {'alone': choice,
          'ms': {n: round(1e3 * t, 4) for n, t in best.items()}}


@dataclasses.dataclass
class Report:
  """What `prepare` did: the sites met, how each got its form."""
  sites: dict[str, Site]
  forms: dict[str, str] = dataclasses.field(default_factory=dict)
  cached: list[str] = dataclasses.field(default_factory=list)
  timed: list[str] = dataclasses.field(default_factory=list)  # alone
  # Whole-iteration trials: (site, form, seconds before, seconds with it,
  # kept).
  trials: list[tuple] = dataclasses.field(default_factory=list)
  ruled: list[str] = dataclasses.field(default_factory=list)  # undecided
  seconds: float = 0.0

  def summary(self) -> str:
    kept = sum(t[-1] for t in self.trials)
    return (f'{len(self.sites)} convolution sites, {len(self.cached)} from '
            f'the cache, {len(self.timed)} timed alone, {len(self.trials)} '
            f'tried in the whole iteration ({kept} kept), '
            f'{len(self.ruled)} left to the rules; {self.seconds:.1f} s')


def _compile(fn, args):
  # A fresh function each time: jit's trace cache must not hand back a
  # program traced under other choices.
  return jax.jit(lambda *a: fn(*a)).lower(*args).compile()


def _race(current, candidate, args, calls: int = 4):
  """The best of `calls` alternating runs of each executable, seconds."""
  best = [float('inf'), float('inf')]
  for _ in range(calls):
    for i, exe in enumerate((current, candidate)):
      best[i] = min(best[i], _seconds(exe, args))
  return best


def prepare(fn, *args, budget: float | None = None,
            looped: bool = False) -> Report:
  """Chooses the form of every convolution that `fn(*args)` traces.

  Call before `fn` is compiled for real: the compiled program then takes
  the choices (`choose`). Sites that already have a choice in this process
  or in the cache keep it. The others are timed alone (`measure`); where a
  form other than the rule's wins alone, it is then tried in the whole
  iteration, `fn` compiled and run on `args` against the current choices,
  and kept only if the iteration gets faster by more than STEP_MARGIN in
  two races in a row:
  timed alone, a layer misses its neighbours' fusions and memory traffic,
  and on the Zen 5 of benchmarks/README.md the forms that won alone made
  dcgan64's and wgan_gp32's iterations 11% and 30% slower. All of it within
  the budget; what is left keeps the rule's form this run.

  `looped`: `fn` runs its iterations in a `lax.scan`, so each site is
  timed (and cached) inside one.

  Under several processes nothing is timed (a trial of the whole iteration
  would need every process): process 0's cached choices, else the rules,
  are broadcast and every process takes them.
  """
  budget = budget_s() if budget is None else budget
  if budget <= 0 or jax.default_backend() != 'cpu':
    return Report(sites={})  # The rules' forms, or XLA's: nothing to find.
  start = time.perf_counter()
  with _recording() as sites:
    jax.eval_shape(fn, *args)
  report = Report(sites=sites)
  single = jax.process_count() == 1
  if jax.process_index() == 0:
    entries = _cached()
    left = lambda: budget - (time.perf_counter() - start)  # pylint: disable=unnecessary-lambda-assignment
    new, proposals = {}, []
    for site in sorted(sites.values(), key=lambda s: -s.flops()):
      key, ckey = site.key, cache_key(site, looped)
      cached = None if key in _TABLE else _cached_form(site, looped)
      if cached:
        _TABLE[key] = cached
      if key in _TABLE:
        report.cached.append(key)
        continue
      _TABLE[key] = rule(site)  # Until decided.
      if not single:
        continue
      entry = entries.get(ckey)
      entry = None if _stale(site, entry or {}) else entry
      if entry is None and left() > 0 and candidates(site):
        entry = measure(site, looped)
        report.timed.append(key)
        logging.info('Convolution %s timed alone: %s', key, entry['ms'])
      if entry is None:
        report.ruled.append(key)
      elif entry['alone'] == rule(site):
        new[ckey] = dict(entry, form=entry['alone'])
      else:
        new[ckey] = entry
        ms = entry['ms']
        proposals.append((ms[rule(site)] - ms[entry['alone']], site))
    if proposals:
      proposals.sort(key=lambda p: -p[0])
      current = None
      for _, site in proposals:
        key, ckey = site.key, cache_key(site, looped)
        form = new[ckey]['alone']
        if left() <= 0:
          report.ruled.append(key)
          continue
        if current is None:
          current = _compile(fn, args)
          _seconds(current, args)
        _TABLE[key] = form
        candidate = _compile(fn, args)
        _seconds(candidate, args)
        before, after = _race(current, candidate, args)
        kept = after < (1 - STEP_MARGIN) * before
        if kept:  # Once more: one lucky race on a noisy host is no gain.
          before, after = _race(current, candidate, args)
          kept = after < (1 - STEP_MARGIN) * before
        report.trials.append((key, form, before, after, kept))
        logging.info('Convolution %s as %s in the whole iteration: %.4f s '
                     '-> %.4f s, %s', key, form, before, after,
                     'kept' if kept else 'not kept')
        if kept:
          current = candidate
        else:
          _TABLE[key] = rule(site)
        new[ckey]['form'] = _TABLE[key]
        new[ckey]['step_s'] = {'rule': round(before, 5),
                               form: round(after, 5)}
      rejected = [site for _, site in proposals
                  if site.key not in report.ruled and
                  _TABLE[site.key] != new[cache_key(site, looped)]['alone']]
      if len(rejected) >= 2 and left() > 0:
        current = _try_together(fn, args, current, rejected, looped, new,
                                report)
    for key in report.ruled:  # Undecided: the next start goes on.
      new.get(cache_key(sites[key], looped), {}).pop('form', None)
    if new:
      try:
        _write_cache(cache_path(), new)
      except OSError as e:
        logging.warning('Could not write the convolution form cache %s (%s): '
                        'the next start times them again.', cache_path(), e)
  if not single:
    # Process 0's choice, or its rule, everywhere.
    table = _broadcast({k: _TABLE[k] for k in sites if k in _TABLE})
    for key in sites:
      _TABLE.pop(key, None)
    _TABLE.update(table)
  report.forms = {k: _TABLE.get(k) or rule(s) for k, s in sites.items()}
  report.seconds = time.perf_counter() - start
  if report.ruled:
    logging.warning('Convolution form tuning: the budget of %.0f s (%s) ran '
                    'out; %d sites keep the rules\' forms this run, and the '
                    'next start goes on with them.', budget, BUDGET_ENV,
                    len(report.ruled))
  return report


def _try_together(fn, args, current, sites, looped, new, report):
  """The forms that won alone at `sites` but not, one at a time, in the
  whole iteration, tried there all together: each may gain less than
  STEP_MARGIN alone and more together. Kept on the same two races."""
  forms = {s.key: new[cache_key(s, looped)]['alone'] for s in sites}
  _TABLE.update(forms)
  candidate = _compile(fn, args)
  _seconds(candidate, args)
  before, after = _race(current, candidate, args)
  kept = after < (1 - STEP_MARGIN) * before
  if kept:
    before, after = _race(current, candidate, args)
    kept = after < (1 - STEP_MARGIN) * before
  keys = sorted(forms)
  report.trials.append(('+'.join(keys), 'together', before, after, kept))
  logging.info('Convolutions %s with the forms that won alone, together, in '
               'the whole iteration: %.4f s -> %.4f s, %s', ', '.join(keys),
               before, after, 'kept' if kept else 'not kept')
  for site in sites:
    entry = new[cache_key(site, looped)]
    if not kept:
      _TABLE[site.key] = rule(site)
    entry['form'] = _TABLE[site.key]
    entry['step_s'] = dict(entry.get('step_s', {}),
                           together=[round(before, 5), round(after, 5)])
  return candidate if kept else current


def _broadcast(table: dict[str, str]) -> dict[str, str]:
  """Process 0's `table`, on every process."""
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  payload = np.frombuffer(json.dumps(table, sort_keys=True).encode(), np.uint8)
  size = int(multihost_utils.broadcast_one_to_all(np.int32(payload.size)))
  buffer = np.zeros(size, np.uint8)
  if jax.process_index() == 0:
    buffer[:] = payload
  buffer = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
  return json.loads(buffer.tobytes().decode())
