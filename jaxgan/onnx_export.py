"""A JAX function of fixed shapes as an ONNX graph, written from its jaxpr.

Why our own and not a converter package (tried on this project's generators
on 2026-12-06, jax 0.10.2): jax2onnx 0.14 and later pin orbax-checkpoint
below 0.11.37, which this project (orbax-checkpoint 0.12) cannot take, and
0.13.0, the newest pip can install beside it, fails on jax 0.10's
leaky_relu (pix2pix's encoder) and on `lax.switch` of more than two
branches; jax2tf then tf2onnx 1.17 fails inside onnx 1.23's attribute
helper, and needs jax2tf's graph serialization, which JAX is retiring. The
generators of every family come down to 30 primitives in eval mode (the
CPU forms of the convolutions lower to `dot_general` on patches), each of
which has a direct ONNX form; `PRIMITIVES` lists them, and anything else is
refused by name.

`to_onnx(fn, args)` traces fn at the shapes and dtypes of `args`: every
array fn closes over (the weights) becomes an initializer, nested calls
(jit, custom_jvp/vjp) are inlined, and the graph keeps JAX's layouts (a
convolution is wrapped in transposes to ONNX's NCHW). Opset 17, which
onnxruntime and onnxruntime-web both run.
"""

from typing import Any, Callable, Sequence

import jax
from jax.extend import core as jcore
import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper

OPSET = 17

_UNARY = {'neg': 'Neg', 'tanh': 'Tanh', 'exp': 'Exp', 'log': 'Log',
          'sqrt': 'Sqrt', 'abs': 'Abs', 'logistic': 'Sigmoid',
          'floor': 'Floor', 'ceil': 'Ceil', 'sign': 'Sign', 'sin': 'Sin',
          'cos': 'Cos', 'erf': 'Erf', 'copy': 'Identity',
          'copy_p': 'Identity', 'stop_gradient': 'Identity'}
_BINARY = {'add': 'Add', 'sub': 'Sub', 'mul': 'Mul', 'div': 'Div',
           'max': 'Max', 'min': 'Min', 'pow': 'Pow', 'eq': 'Equal',
           'gt': 'Greater', 'ge': 'GreaterOrEqual', 'lt': 'Less',
           'le': 'LessOrEqual', 'and': 'And', 'or': 'Or'}
_INLINED = ('jit', 'pjit', 'custom_jvp_call', 'custom_vjp_call',
            'custom_vjp_call_jaxpr', 'closed_call', 'remat', 'checkpoint')


class UnsupportedError(ValueError):
  """A primitive without an ONNX form here."""


def _onnx_type(dtype) -> int:
  return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class _Graph:
  """The nodes, initializers and names of the graph being written."""

  def __init__(self):
    self.nodes, self.initializers = [], []
    self.names: dict[Any, str] = {}
    self.count = 0

  def fresh(self, hint: str) -> str:
    self.count += 1
    return f'{hint}_{self.count}'

  def const(self, value, hint='c') -> str:
    name = self.fresh(hint)
    self.initializers.append(numpy_helper.from_array(np.asarray(value),
                                                     name))
    return name

  def ints(self, values) -> str:
    return self.const(np.asarray(values, np.int64), 'i')

  def op(self, op_type: str, inputs: Sequence[str], **attrs) -> str:
    out = self.fresh(op_type.lower())
    self.nodes.append(helper.make_node(op_type, list(inputs), [out],
                                       **attrs))
    return out

  def read(self, var) -> str:
    if isinstance(var, jcore.Literal):
      return self.const(np.asarray(var.val, var.aval.dtype), 'lit')
    return self.names[var]


def _pad(g: _Graph, x: str, shape, config, value: str) -> tuple[str, list]:
  """lax.pad: (lo, hi, interior) per dim, lo/hi possibly negative; returns
  the padded name and its shape."""
  shape = list(shape)
  for d, (_, _, interior) in enumerate(config):
    if interior and shape[d] > 0:
      # Insert `interior` values after every element: a new axis after d,
      # padded at its end, folded back into d, the last gap sliced off.
      n = shape[d]
      expanded = shape[:d + 1] + [1] + shape[d + 1:]
      x = g.op('Reshape', [x, g.ints(expanded)])
      pads = [0] * len(expanded) * 2
      pads[len(expanded) + d + 1] = interior
      x = g.op('Pad', [x, g.ints(pads), value])
      folded = shape[:d] + [n * (interior + 1)] + shape[d + 1:]
      x = g.op('Reshape', [x, g.ints(folded)])
      x = g.op('Slice', [x, g.ints([0]), g.ints([n * (interior + 1) -
                                                  interior]), g.ints([d])])
      shape[d] = n + (n - 1) * interior
  lo = [max(c[0], 0) for c in config]
  hi = [max(c[1], 0) for c in config]
  if any(lo) or any(hi):
    x = g.op('Pad', [x, g.ints(lo + hi), value])
    shape = [s + a + b for s, a, b in zip(shape, lo, hi)]
  cut = [(d, -c[0], shape[d] + min(c[1], 0)) for d, c in enumerate(config)
         if c[0] < 0 or c[1] < 0]
  if cut:
    x = g.op('Slice', [x, g.ints([max(s, 0) for _, s, _ in cut]),
                       g.ints([e for _, _, e in cut]),
                       g.ints([d for d, _, _ in cut])])
    for d, s, e in cut:
      shape[d] = e - max(s, 0)
  return x, shape


def _dot_general(g: _Graph, a: str, b: str, eqn) -> str:
  (lc, rc), (lb, rb) = eqn.params['dimension_numbers']
  ra, rb_ = eqn.invars[0].aval.ndim, eqn.invars[1].aval.ndim
  letters = iter('abcdefghijklmnopqrstuvwxyz')
  left = [None] * ra
  right = [None] * rb_
  for i, j in zip(lb, rb):
    left[i] = right[j] = next(letters)
  for i, j in zip(lc, rc):
    left[i] = right[j] = next(letters)
  for i in range(ra):
    left[i] = left[i] or next(letters)
  for j in range(rb_):
    right[j] = right[j] or next(letters)
  out = ([left[i] for i in lb] +
         [left[i] for i in range(ra) if i not in lb and i not in lc] +
         [right[j] for j in range(rb_) if j not in rb and j not in rc])
  equation = f'{"".join(left)},{"".join(right)}->{"".join(out)}'
  return g.op('Einsum', [a, b], equation=equation)


def _conv(g: _Graph, x: str, w: str, eqn) -> str:
  p = eqn.params
  lhs_spec, rhs_spec, out_spec = p['dimension_numbers']
  if p.get('batch_group_count', 1) != 1:
    raise UnsupportedError('conv_general_dilated with batch_group_count')
  spatial = len(lhs_spec) - 2
  x = g.op('Transpose', [x], perm=list(lhs_spec))
  w = g.op('Transpose', [w], perm=list(rhs_spec))
  in_shape = eqn.invars[0].aval.shape
  shape = [in_shape[i] for i in lhs_spec]
  zero = g.const(np.zeros((), eqn.invars[0].aval.dtype), 'zero')
  dilation = p['lhs_dilation'] or (1,) * spatial
  config = [(0, 0, 0), (0, 0, 0)] + [
      (lo, hi, d - 1) for (lo, hi), d in zip(p['padding'], dilation)]
  x, _ = _pad(g, x, shape, config, zero)
  y = g.op('Conv', [x, w], strides=list(p['window_strides']),
           dilations=list(p['rhs_dilation'] or (1,) * spatial),
           group=int(p['feature_group_count']))
  back = [0] * len(out_spec)
  for i, d in enumerate(out_spec):
    back[d] = i
  return g.op('Transpose', [y], perm=back)


def _lower(g: _Graph, jaxpr, consts, inputs: list[str]) -> list[str]:
  for var, value in zip(jaxpr.constvars, consts):
    g.names[var] = g.const(np.asarray(value), 'w')
  for var, name in zip(jaxpr.invars, inputs):
    g.names[var] = name
  for eqn in jaxpr.eqns:
    prim, p = eqn.primitive.name, eqn.params
    args = [g.read(v) for v in eqn.invars]
    out_aval = eqn.outvars[0].aval
    if prim in _INLINED:
      inner = p.get('jaxpr', p.get('call_jaxpr', p.get('fun_jaxpr')))
      if isinstance(inner, jcore.ClosedJaxpr):
        outs = _lower(g, inner.jaxpr, inner.consts, args)
      else:
        outs = _lower(g, inner, [], args)
      for var, name in zip(eqn.outvars, outs):
        g.names[var] = name
      continue
    if prim in _UNARY:
      y = g.op(_UNARY[prim], args)
    elif prim in _BINARY:
      y = g.op(_BINARY[prim], args)
    elif prim == 'ne':
      y = g.op('Not', [g.op('Equal', args)])
    elif prim == 'not':
      y = g.op('Not', args)
    elif prim == 'rsqrt':
      y = g.op('Reciprocal', [g.op('Sqrt', args)])
    elif prim == 'square':
      y = g.op('Mul', [args[0], args[0]])
    elif prim == 'integer_pow':
      y = g.op('Pow', [args[0], g.const(np.asarray(
          p['y'], eqn.invars[0].aval.dtype))])
    elif prim == 'clamp':  # clamp(min, x, max)
      y = g.op('Min', [g.op('Max', [args[1], args[0]]), args[2]])
    elif prim == 'select_n':
      if len(args) != 3:
        raise UnsupportedError('select_n of more than two cases')
      pred = args[0]
      if eqn.invars[0].aval.dtype != np.bool_:
        pred = g.op('Cast', [pred], to=onnx.TensorProto.BOOL)
      y = g.op('Where', [pred, args[2], args[1]])
    elif prim == 'convert_element_type':
      y = g.op('Cast', args, to=_onnx_type(p['new_dtype']))
    elif prim == 'iota':
      y = g.const(jax.lax.broadcasted_iota(p['dtype'], p['shape'],
                                           p['dimension']), 'iota')
    elif prim == 'broadcast_in_dim':
      shape = list(p['shape'])
      kept = [1] * len(shape)
      for i, d in enumerate(p['broadcast_dimensions']):
        kept[d] = eqn.invars[0].aval.shape[i]
      y = g.op('Expand', [g.op('Reshape', [args[0], g.ints(kept)]),
                          g.ints(shape)])
    elif prim in ('reshape', 'squeeze', 'expand_dims'):
      y = g.op('Reshape', [args[0], g.ints(out_aval.shape)])
    elif prim == 'transpose':
      y = g.op('Transpose', args, perm=list(p['permutation']))
    elif prim == 'concatenate':
      y = g.op('Concat', args, axis=int(p['dimension']))
    elif prim == 'stack':
      axis = int(p['axis'])
      shape = list(out_aval.shape)
      shape[axis] = 1
      y = g.op('Concat', [g.op('Reshape', [a, g.ints(shape)]) for a in args],
               axis=axis)
    elif prim == 'pad':
      y, _ = _pad(g, args[0], eqn.invars[0].aval.shape,
                  p['padding_config'], args[1])
    elif prim == 'slice':
      n = len(p['start_indices'])
      y = g.op('Slice', [args[0], g.ints(p['start_indices']),
                         g.ints(p['limit_indices']), g.ints(range(n)),
                         g.ints(p['strides'] or (1,) * n)])
    elif prim == 'rev':
      dims = list(p['dimensions'])
      big = np.iinfo(np.int64).max
      y = g.op('Slice', [args[0], g.ints([-1] * len(dims)),
                         g.ints([-big] * len(dims)), g.ints(dims),
                         g.ints([-1] * len(dims))])
    elif prim in ('reduce_sum', 'reduce_max', 'reduce_min'):
      op = {'reduce_sum': 'ReduceSum', 'reduce_max': 'ReduceMax',
            'reduce_min': 'ReduceMin'}[prim]
      if prim == 'reduce_sum':
        y = g.op(op, [args[0], g.ints(p['axes'])], keepdims=0)
      else:  # Opset 17's ReduceMax/Min take axes as an attribute.
        y = g.op(op, [args[0]], axes=list(p['axes']), keepdims=0)
    elif prim == 'dot_general':
      y = _dot_general(g, args[0], args[1], eqn)
    elif prim == 'conv_general_dilated':
      y = _conv(g, args[0], args[1], eqn)
    else:
      raise UnsupportedError(
          f'the primitive {prim!r} has no ONNX form in jaxgan.onnx_export '
          f'(it has: {", ".join(sorted(PRIMITIVES))}); add it there')
    if prim in ('dot_general',) and out_aval.dtype != eqn.invars[0].aval.dtype:
      y = g.op('Cast', [y], to=_onnx_type(out_aval.dtype))
    g.names[eqn.outvars[0]] = y
  return [g.read(v) for v in jaxpr.outvars]


PRIMITIVES = frozenset(
    [*_UNARY, *_BINARY, *_INLINED, 'ne', 'not', 'rsqrt', 'square',
     'integer_pow', 'clamp', 'select_n', 'convert_element_type', 'iota',
     'broadcast_in_dim', 'reshape', 'squeeze', 'expand_dims', 'transpose',
     'concatenate', 'stack', 'pad', 'slice', 'rev', 'reduce_sum',
     'reduce_max', 'reduce_min', 'dot_general', 'conv_general_dilated'])


def to_onnx(fn: Callable, args: Sequence[np.ndarray],
            input_names: Sequence[str], output_names: Sequence[str],
            doc: str = '') -> onnx.ModelProto:
  """fn(*args) -> array or tuple of arrays, as an ONNX model whose inputs
  (named `input_names`) have the shapes and dtypes of `args`."""
  closed = jax.make_jaxpr(fn)(*args)
  g = _Graph()
  inputs = list(input_names)
  outs = _lower(g, closed.jaxpr, closed.consts, inputs)
  if len(outs) != len(output_names):
    raise ValueError(f'fn returns {len(outs)} outputs; {len(output_names)} '
                     'names given')
  nodes = list(g.nodes)
  for out, name in zip(outs, output_names):
    nodes.append(helper.make_node('Identity', [out], [name]))
  # Only what the outputs need (a traced function may compute more).
  needed, kept = set(output_names), []
  for node in reversed(nodes):
    if any(o in needed for o in node.output):
      kept.append(node)
      needed.update(node.input)
  nodes = kept[::-1]
  g.initializers = [t for t in g.initializers if t.name in needed]
  graph = helper.make_graph(
      nodes, 'jaxgan',
      [helper.make_tensor_value_info(n, _onnx_type(a.dtype), a.shape)
       for n, a in zip(inputs, args)],
      [helper.make_tensor_value_info(n, _onnx_type(v.aval.dtype),
                                     v.aval.shape)
       for n, v in zip(output_names, closed.jaxpr.outvars)],
      initializer=g.initializers)
  model = helper.make_model(graph, producer_name='jaxgan', doc_string=doc,
                            opset_imports=[helper.make_opsetid('', OPSET)])
  model.ir_version = 8  # onnxruntime-web's and older runtimes' ceiling.
  onnx.checker.check_model(model)
  return model
