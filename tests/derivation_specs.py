"""Specs the derivation tests share: one per optimizer and output/loss pairing."""


def spec(name, acts, units, loss, optimizer, dtype="float32", inputs=4, **layer_extra):
    """A spec dict: one layer per (activation, units); l<i>={...} adds keys to layer i."""
    layers = [{"units": u, "activation": act} for u, act in zip(units, acts)]
    for index, extra in layer_extra.items():
        layers[int(index.lstrip("l")) - 1].update(extra)
    return {"name": name, "inputs": inputs, "dtype": dtype, "layers": layers,
            "loss": loss, "optimizer": optimizer}


SPECS = {
    "tanh_softmax_ce_momentum": spec(
        "digits", ["tanh", "softmax"], [8, 3], {"kind": "cross_entropy"},
        {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}, l1={"learning_rate": 0.05}),
    "relu_sigmoid_bce_amsgrad": spec(
        "binary", ["relu", "relu", "sigmoid"], [8, 6, 1], {"kind": "binary_cross_entropy"},
        {"kind": "adam", "amsgrad": True, "weight_decay": 0.01}),
    "sigmoid_identity_mse_f64": spec(
        "regress", ["sigmoid", "identity"], [5, 2], {"kind": "mse"}, {"kind": "sgd"}, dtype="float64"),
    "softmax_mse": spec(
        "soft", ["tanh", "softmax"], [6, 4], {"kind": "mse"}, {"kind": "adam"}),
    "adamw": spec("w", ["tanh", "softmax"], [6, 4], {"kind": "cross_entropy"},
                  {"kind": "adamw", "amsgrad": True}),
    "rmsprop_centered_momentum": spec(
        "r", ["sigmoid", "identity"], [5, 2], {"kind": "mse"},
        {"kind": "rmsprop", "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    "adagrad": spec("g", ["relu", "sigmoid"], [5, 1], {"kind": "binary_cross_entropy"},
                    {"kind": "adagrad", "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
}


def _scheduled(schedule, optimizer):
    out = spec("sched", ["tanh", "softmax"], [6, 3], {"kind": "cross_entropy"}, optimizer,
               l1={"learning_rate": 0.05})
    return out | {"schedule": schedule}


# every schedule, and both kinds of clipping, through every renderer and pdflatex
SPECS.update({
    "schedule_step_clip_norm": _scheduled({"kind": "step", "step_size": 3},
                                          {"kind": "sgd", "momentum": 0.9, "clip_grad_norm": 1.0}),
    "schedule_multistep_clip_value": _scheduled({"kind": "multistep", "milestones": [2, 5]},
                                                {"kind": "adam", "clip_grad_value": 0.5}),
    "schedule_exponential": _scheduled({"kind": "exponential", "gamma": 0.9}, {"kind": "sgd"}),
    "schedule_cosine": _scheduled({"kind": "cosine", "T_max": 10, "eta_min": 0.001}, {"kind": "rmsprop"}),
    "schedule_linear": _scheduled({"kind": "linear"}, {"kind": "adagrad"}),
    "schedule_one_cycle_three_phase": _scheduled(
        {"kind": "one_cycle", "max_lr": [0.1, 0.2], "three_phase": True, "anneal_strategy": "linear"},
        {"kind": "adamw", "clip_grad_norm": 2.0}),
    "schedule_plateau": _scheduled({"kind": "plateau", "mode": "max", "threshold_mode": "abs"},
                                   {"kind": "sgd", "momentum": 0.5}),
})

# weight penalties: [regularization] and a layer's own, through every renderer and pdflatex
SPECS["penalties"] = spec("pen", ["tanh", "relu", "softmax"], [6, 5, 3], {"kind": "cross_entropy"},
                          {"kind": "adam", "clip_grad_norm": 1.0}, l2={"l1": 0.01, "l2": 0.0}) | {
    "regularization": {"l2": 1e-4}, "schedule": {"kind": "cosine", "T_max": 8}}

# class weights ("balanced" and a list) and the weighted mean, through every renderer and pdflatex
SPECS["class_weight_balanced"] = spec("cwb", ["tanh", "softmax"], [6, 3],
                                      {"kind": "cross_entropy", "class_weight": "balanced"}, {"kind": "sgd"})
SPECS["class_weight_binary"] = spec("cwl", ["relu", "sigmoid"], [5, 1],
                                    {"kind": "binary_cross_entropy", "class_weight": [2.0, 0.5]}, {"kind": "sgd"})

# dropout on two hidden layers, through every renderer and pdflatex
SPECS["dropout"] = spec("drop", ["relu", "tanh", "softmax"], [8, 6, 3], {"kind": "cross_entropy"},
                        {"kind": "sgd", "momentum": 0.9}, l1={"dropout": 0.5}, l2={"dropout": 0.2})

# every feature of issues 20 and 21 at once: dropout, class weights, penalties (global and a
# layer's own), a schedule and clipping
SPECS["every_feature"] = spec("every", ["relu", "tanh", "softmax"], [8, 6, 3],
                              {"kind": "cross_entropy", "class_weight": [1.0, 2.0, 0.5]},
                              {"kind": "adamw", "clip_grad_norm": 1.0},
                              l1={"dropout": 0.3, "l1": 1e-3}, l2={"dropout": 0.1}) | {
    "regularization": {"l2": 1e-4}, "schedule": {"kind": "one_cycle", "max_lr": 0.01},
    "training": {"patience": 3, "min_delta": 1e-3, "restore_best": True}}
