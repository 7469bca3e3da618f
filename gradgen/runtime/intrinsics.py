"""Every use of Numba's internals in gradgen, in one place, each with why it is needed.

Generated modules and the rest of the runtime reach Numba's internals only
through this module; a Numba release that changes them breaks here, and only
here. What is used, and why:

- The jit options `INNER`, `ENTRY`, `EPOCH` use Numba's private flags
  `no_cpython_wrapper` and `no_cfunc_wrapper` (a kernel called only from
  compiled code needs no Python or C entry point: Numba would compile one for
  each, which costs compilation time only) and `_nrt=False` (kernels that
  allocate nothing need no reference counting: their caller holds every array
  they see for the whole call, so the counts would only add atomic updates per
  slice and per parameter swap, on counters the epoch's threads share).
- `mm`, `mm_rows`, `mm_block`: matrix products as `@intrinsic`s that call BLAS
  ?gemm through `numba_xxgemm`, the C entry point np.dot's implementation ends in
  (SciPy's BLAS, found by `numba.np.linalg.ensure_blas`): the same library and
  arithmetic as np.dot, without np.dot's implementation, which Numba compiles
  once per operand layout (a @ b, a.T @ b, a @ b.T) at about 0.1 s each. A
  product compiles to a shape check and a call. `mm_rows` computes a block of
  rows of a.T @ b from a block of a's columns, passed to BLAS with a's row length
  as leading dimension (a threaded epoch's share of a gradient, without a copy);
  `mm_block` likewise a block of a @ b. They use `numba.core.cgutils` (LLVM IR
  helpers), `numba.core.funcdesc.ExternalFunctionDescriptor` (to declare the C
  function), `numba.core.errors.TypingError` (refusals at compile time) and
  `numba.np.linalg`'s `get_blas_kind`, `make_constant_slot`, `check_blas_return`.
- `load_acquire`, `store_release`: atomic loads and stores with acquire/release
  ordering (llvmlite's `load_atomic`/`store_atomic`), which Numba does not offer:
  the epoch's threads meet at a barrier of counters (kernels.barrier).
- `spin_pause`: x86's `pause` instruction (the LLVM intrinsic
  `llvm.x86.sse2.pause`) between two reads of a spin loop; nothing elsewhere.
"""
import platform

from numba import types as _nb_types
from numba.core import cgutils as _cgutils
from numba.core import errors as _nb_errors
from numba.core import funcdesc as _funcdesc
from numba.extending import intrinsic as _intrinsic
from numba.np import linalg as _linalg

__all__ = ["JIT", "INNER", "ENTRY", "EPOCH", "ensure_blas", "mm", "mm_rows", "mm_block",
           "load_acquire", "store_release", "spin_pause"]

JIT = dict(cache=True, nogil=True, error_model="numpy")
INNER = dict(JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True, _nrt=False)   # called from compiled code only
ENTRY = dict(JIT, no_cfunc_wrapper=True)                                           # called from Python
EPOCH = dict(ENTRY, _nrt=False)                                                    # called from Python, allocates nothing


def ensure_blas():
    """Load SciPy's BLAS, the one the products call (raises where SciPy is missing)."""
    _linalg.ensure_blas()


_XXGEMM = _funcdesc.ExternalFunctionDescriptor(
    "numba_xxgemm", _nb_types.intc,
    (_nb_types.char,) * 3                       # kind ("s" or "d"), transa, transb
    + (_nb_types.intp,) * 3                     # m, n, k
    + (_nb_types.voidptr, _nb_types.voidptr, _nb_types.intp)    # alpha, a, lda
    + (_nb_types.voidptr, _nb_types.intp)                       # b, ldb
    + (_nb_types.voidptr, _nb_types.voidptr, _nb_types.intp))   # beta, c, ldc


def _check_operands(name, arrays):
    """Refuse, when compiling, operands that are not C-contiguous 2-d arrays of one
    float dtype."""
    if not all(isinstance(x, _nb_types.Array) and x.ndim == 2 and x.layout == "C" for x in arrays):
        raise _nb_errors.TypingError("%s needs C-contiguous 2-d arrays, got %s" % (name, arrays))
    if not (arrays[0].dtype == arrays[1].dtype == arrays[2].dtype
            and arrays[2].dtype in (_nb_types.float32, _nb_types.float64)):
        raise _nb_errors.TypingError("%s needs float32 or float64 arrays of one dtype, got %s" % (name, arrays))
    _linalg.ensure_blas()


def _gemm(context, builder, dtype, ta, tb, m, n, k, a, lda, b, ldb, out, ldc=None):
    """Code for out (m x n, rows ldc apart; ldc None: n) = op(a) op(b), the operands
    row-major at the pointers a and b with row strides lda and ldb (op(x) = x.T where
    tx). A sum over nothing (k = 0) zeroes out; no call is made with m, n or k of 0
    (BLAS refuses a leading dimension of 0)."""
    zero = k.type(0)
    empty = builder.or_(builder.icmp_signed("==", k, zero),
                        builder.or_(builder.icmp_signed("==", m, zero), builder.icmp_signed("==", n, zero)))
    itemsize = context.get_constant(_nb_types.intp, context.get_abi_sizeof(context.get_data_type(dtype)))
    with builder.if_else(empty, likely=False) as (if_empty, otherwise):
        with if_empty:
            if ldc is None:
                _cgutils.memset(builder, out, builder.mul(builder.mul(m, n), itemsize), 0)
            else:
                with _cgutils.for_range(builder, m) as loop:
                    _cgutils.memset(builder, builder.gep(out, [builder.mul(loop.index, ldc)]),
                                    builder.mul(n, itemsize), 0)
        with otherwise:
            # BLAS is column-major, where a row-major matrix reads as its transpose:
            # ask it for out^T = op(b)^T op(a)^T
            char = lambda c: context.get_constant(_nb_types.char, ord(c))    # noqa: E731
            pointer = lambda p: builder.bitcast(p, _cgutils.voidptr_t)    # noqa: E731
            gemm = context.declare_external_function(builder.module, _XXGEMM)
            status = context.call_external_function(builder, gemm, _XXGEMM.argtypes, [
                char(_linalg.get_blas_kind(dtype)), char("t" if tb else "n"), char("t" if ta else "n"),
                n, m, k, pointer(_linalg.make_constant_slot(context, builder, dtype, 1.0)),
                pointer(b), ldb, pointer(a), lda,
                pointer(_linalg.make_constant_slot(context, builder, dtype, 0.0)), pointer(out),
                n if ldc is None else ldc])
            _linalg.check_blas_return(context, builder, status)


def _raise_if(context, builder, bad, message):
    with _cgutils.if_unlikely(builder, bad):
        context.call_conv.return_user_exc(builder, ValueError, (message,))


def _check_bounds(name, bounds):
    """A block's bounds must be typed as integers (refused when compiling)."""
    if not all(isinstance(i, _nb_types.Integer) for i in bounds):
        raise _nb_errors.TypingError("%s's block bounds must be integers, got %s" % (name, tuple(bounds)))


def _outside(builder, lo, hi, size):
    """Code for: the range lo:hi is not within 0 <= lo <= hi <= size."""
    return builder.or_(builder.or_(builder.icmp_signed("<", lo, lo.type(0)), builder.icmp_signed("<", hi, lo)),
                       builder.icmp_signed(">", hi, size))


@_intrinsic
def mm(typingctx, a, trans_a, b, trans_b, out):
    """out = op(a) op(b), op(x) = x.T where trans_x (a constant) is true. The arrays
    must be typed as C-contiguous 2-d arrays of one dtype (refused when compiling);
    shapes that do not match raise ValueError. An intrinsic: each product compiles
    inline to the check and the call, not to a function of its own."""
    _check_operands("mm", (a, b, out))
    if not all(isinstance(t, _nb_types.BooleanLiteral) for t in (trans_a, trans_b)):
        raise _nb_errors.TypingError("mm's transpose flags must be the constants True or False")
    ta, tb = trans_a.literal_value, trans_b.literal_value

    def codegen(context, builder, sig, args):
        arr_a, arr_b, arr_out = (context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 2, 4))
        (a0, a1), (b0, b1), (m, n) = (_cgutils.unpack_tuple(builder, x.shape, 2) for x in (arr_a, arr_b, arr_out))
        op_a, op_b = (a1, a0) if ta else (a0, a1), (b1, b0) if tb else (b0, b1)
        k = op_a[1]
        _raise_if(context, builder,
                  builder.or_(builder.icmp_signed("!=", op_a[0], m),
                              builder.or_(builder.icmp_signed("!=", op_b[1], n), builder.icmp_signed("!=", op_b[0], k))),
                  "matrix product: the shapes do not match")
        _gemm(context, builder, sig.args[4].dtype, ta, tb, m, n, k, arr_a.data, a1, arr_b.data, b1, arr_out.data)
        return context.get_dummy_value()

    return _nb_types.void(a, trans_a, b, trans_b, out), codegen


@_intrinsic
def mm_rows(typingctx, a, b, out, i0, i1):
    """out[i0:i1] = a[:, i0:i1].T @ b, the other rows of out untouched: a block of
    rows of a.T @ b, read from a block of a's columns in place. The arrays must be
    typed as C-contiguous 2-d arrays of one dtype (refused when compiling); shapes
    that do not match, or a block outside 0 <= i0 <= i1 <= a.shape[1], raise
    ValueError."""
    _check_operands("mm_rows", (a, b, out))
    _check_bounds("mm_rows", (i0, i1))

    def codegen(context, builder, sig, args):
        arr_a, arr_b, arr_out = (context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 1, 2))
        (a0, a1), (b0, b1), (o0, o1) = (_cgutils.unpack_tuple(builder, x.shape, 2) for x in (arr_a, arr_b, arr_out))
        lo, hi = (context.cast(builder, args[i], sig.args[i], _nb_types.intp) for i in (3, 4))
        _raise_if(context, builder,
                  builder.or_(builder.or_(builder.icmp_signed("!=", a0, b0), builder.icmp_signed("!=", o0, a1)),
                              builder.icmp_signed("!=", o1, b1)),
                  "matrix product: the shapes do not match")
        _raise_if(context, builder, _outside(builder, lo, hi, a1),
                  "matrix product: the block of rows is outside the array")
        # a's columns i0:i1 start at a + i0, rows a1 apart; out's rows i0:i1 at out + i0 * n
        _gemm(context, builder, sig.args[2].dtype, True, False, builder.sub(hi, lo), o1, a0,
              builder.gep(arr_a.data, [lo]), a1, arr_b.data, b1, builder.gep(arr_out.data, [builder.mul(lo, o1)]))
        return context.get_dummy_value()

    return _nb_types.void(a, b, out, i0, i1), codegen


@_intrinsic
def mm_block(typingctx, a, b, out, r0, r1, c0, c1):
    """out[r0:r1, c0:c1] = a[r0:r1] @ b[:, c0:c1], the rest of out untouched: a block
    of a @ b computed in place, read from a's rows and b's columns without a copy (a
    thread's share of a layer's forward product: its rows, or its columns, where
    each thread then packs only its columns of b for BLAS). The arrays must be typed
    as C-contiguous 2-d arrays of one dtype (refused when compiling); shapes that do
    not match, or a block outside out, raise ValueError."""
    _check_operands("mm_block", (a, b, out))
    _check_bounds("mm_block", (r0, r1, c0, c1))

    def codegen(context, builder, sig, args):
        arr_a, arr_b, arr_out = (context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 1, 2))
        (a0, a1), (b0, b1), (o0, o1) = (_cgutils.unpack_tuple(builder, x.shape, 2) for x in (arr_a, arr_b, arr_out))
        i0, i1, j0, j1 = (context.cast(builder, args[i], sig.args[i], _nb_types.intp) for i in (3, 4, 5, 6))
        _raise_if(context, builder,
                  builder.or_(builder.or_(builder.icmp_signed("!=", a0, o0), builder.icmp_signed("!=", a1, b0)),
                              builder.icmp_signed("!=", b1, o1)),
                  "matrix product: the shapes do not match")
        _raise_if(context, builder, builder.or_(_outside(builder, i0, i1, o0), _outside(builder, j0, j1, o1)),
                  "matrix product: the block is outside the array")
        # a's rows r0:r1 start at a + r0 * k; b's columns c0:c1 at b + c0, rows n apart;
        # out's block at out + r0 * n + c0, rows n apart
        _gemm(context, builder, sig.args[2].dtype, False, False, builder.sub(i1, i0), builder.sub(j1, j0), a1,
              builder.gep(arr_a.data, [builder.mul(i0, a1)]), a1, builder.gep(arr_b.data, [j0]), b1,
              builder.gep(arr_out.data, [builder.add(builder.mul(i0, o1), j0)]), o1)
        return context.get_dummy_value()

    return _nb_types.void(a, b, out, r0, r1, c0, c1), codegen


@_intrinsic
def load_acquire(typingctx, counters, i):
    """counters[i], read atomically (acquire: what its writer stored before it is seen)."""
    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.load_atomic(_cgutils.get_item_pointer(context, builder, sig.args[0], arr, [args[1]]),
                                   "acquire", 8)
    return _nb_types.int64(counters, i), codegen


@_intrinsic
def store_release(typingctx, counters, i, value):
    """counters[i] = value, atomically (release: everything stored before it is seen first)."""
    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        builder.store_atomic(args[2], _cgutils.get_item_pointer(context, builder, sig.args[0], arr, [args[1]]),
                             "release", 8)
        return context.get_dummy_value()
    return _nb_types.void(counters, i, _nb_types.int64), codegen


@_intrinsic
def spin_pause(typingctx):
    """x86's pause between two reads of a spin loop (nothing elsewhere): it spares the
    core's sibling and the memory bus."""
    def codegen(context, builder, sig, args):
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            ir = _cgutils.ir     # llvmlite's IR module, as Numba's own code generation uses it
            builder.call(_cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return _nb_types.void(), codegen
