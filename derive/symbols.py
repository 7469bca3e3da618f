"""The SymPy symbols every rule is written in.

One place, so that the activation, loss and optimizer registries, the derivation
and the code printer all talk about the same objects. All are real: |x|' = sign x.
"""
import sympy as sp

# per-unit quantities of one layer
x = sp.Symbol("x", real=True)          # the argument of an activation formula
z = sp.Symbol("z", real=True)          # pre-activation of one unit
a = sp.Symbol("a", real=True)          # activation (output) of one unit

# loss quantities of one output element
yhat = sp.Symbol("yhat", real=True)
y = sp.Symbol("y", real=True)

# index notation for vector activations (softmax) and layer sums
j, k, m, i = sp.symbols("j k m i", integer=True)
K = sp.Symbol("K", integer=True, positive=True)
Z = sp.IndexedBase("z", real=True)
A = sp.IndexedBase("a", real=True)
Y = sp.IndexedBase("y", real=True)

# optimizer: parameter element, gradient element, step count
p = sp.Symbol("p", real=True)
g = sp.Symbol("g", real=True)
t = sp.Symbol("t", integer=True, positive=True)
