"""scikit-learn's MLPClassifier, on the workloads it can express."""
import numpy as np

from system_base import System, _installed


class Sklearn(System):
    name, label = "sklearn", "scikit-learn MLPClassifier"
    note = "partial_fit per epoch (shuffle=False, alpha=0), weights and optimizer state set before"
    ACTIVATION = {"tanh": "tanh", "relu": "relu", "sigmoid": "logistic", "identity": "identity"}
    SOLVERS = ("sgd", "adam")       # and lbfgs, which takes no batches

    def missing(self, wl):
        if not _installed("sklearn"):
            return "scikit-learn is not installed"
        why = []
        if wl.loss != "cross_entropy":
            why.append(f"trains log-loss, not this workload's {wl.loss}")
        hidden = {l.activation for l in wl.layers[:-1]}
        unknown = sorted(hidden - set(self.ACTIVATION))
        if unknown:
            why.append(f"has no {', '.join(unknown)} (its activations: {', '.join(self.ACTIVATION)})")
        elif wl.loss == "cross_entropy" and (len(hidden) != 1 or wl.layers[-1].activation != "softmax"):
            why.append("has no such network (one hidden activation of its four, softmax out)")
        if wl.optimizer not in self.SOLVERS:
            why.append(f"has no {wl.optimizer} (its solvers: sgd, adam, lbfgs)")
        return "MLPClassifier " + "; ".join(why) if why else None

    def setup(self, wl, dtype, X, y, params):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        h = wl.hyper
        kw = dict(solver=wl.optimizer, learning_rate_init=h["lr"], alpha=0.0,
                  batch_size=wl.batch_size, shuffle=False, max_iter=1, tol=0.0,
                  n_iter_no_change=10 ** 9, random_state=0)
        if wl.optimizer == "sgd":
            kw.update(momentum=h.get("momentum", 0.0), nesterovs_momentum=False,
                      learning_rate="constant")
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(l.units for l in wl.layers[:-1]),
                                 activation=self.ACTIVATION[wl.layers[0].activation], **kw)
        classes = np.arange(wl.classes)
        self.clf.partial_fit(X[:wl.batch_size], y[:wl.batch_size], classes=classes)
        self.clf.coefs_ = [p.astype(dtype).copy() for p in params[0::2]]
        self.clf.intercepts_ = [p.astype(dtype).copy() for p in params[1::2]]
        del self.clf._optimizer          # the next partial_fit makes a fresh one on these arrays
        self.X, self.y = X, y

    def run(self, epochs):
        out = []
        for _ in range(epochs):
            self.clf.partial_fit(self.X, self.y)
            out.append(float(self.clf.loss_))
        return out
