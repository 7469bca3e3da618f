"""The `gradgen` command line: derive | generate | train | check | report | sweep.

Errors a user can cause (bad spec, bad data, bad usage) print one line,
`gradgen: error: ...`, and exit 2; `--debug` shows the traceback instead.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from codegen.generator import EditedByHandError
from derive.errors import FormulaError, SpecError

from .data import DataError
from .sweep_grid import SweepError
from .runtime.files import write_atomic

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"gradgen: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser():
    parser = _Parser(prog="gradgen", description="Derive, print and generate neural-network "
                     "gradients with SymPy; train with the generated Numba module.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("derive", help="print the derivation")
    d.add_argument("spec")
    d.add_argument("--format", choices=("latex", "markdown", "text"), default="latex")
    d.add_argument("--standalone", action="store_true", help="a whole LaTeX document")
    d.add_argument("-o", "--output", help="write to this file instead of stdout")

    g = sub.add_parser("generate", help="write DIR/<name>.py")
    g.add_argument("spec")
    g.add_argument("-o", "--out-dir", default="generated")
    g.add_argument("--force", action="store_true", help="overwrite a file edited by hand")

    t = sub.add_parser("train", help="generate if stale, train, report, save")
    t.add_argument("spec")
    t.add_argument("--data", help="sklearn:<name>, a .npz (X, y) or a .csv (default: the spec's [data])")
    t.add_argument("--epochs", type=int)
    t.add_argument("--out", help="where to save parameters and history (default runs/<name>)")
    t.add_argument("--generated-dir", default="generated", help="where the module is generated")
    t.add_argument("--no-progress", action="store_true")

    c = sub.add_parser("check", help="gradients vs central finite differences")
    c.add_argument("spec")
    c.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("report", help="train, then write one self-contained HTML page: the "
                       "derivation in MathML and four charts")
    r.add_argument("spec")
    r.add_argument("--data", help="sklearn:<name>, a .npz (X, y) or a .csv (default: the spec's [data])")
    r.add_argument("--optimizers", help="optimizers to compare, e.g. sgd,adam:0.01 (name[:learning "
                   "rate]; default sgd,adam,rmsprop,adagrad)")
    r.add_argument("--epochs", type=int)
    r.add_argument("-o", "--output", help="the HTML file (default runs/<name>/report.html)")
    r.add_argument("--png", metavar="DIR", help="also write each chart as DIR/<chart>.png")
    r.add_argument("--generated-dir", default="generated", help="where the module is generated")
    r.add_argument("--work-dir", help="where the comparison modules are generated and cached "
                   "(default: a temporary folder, removed afterwards)")
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("sweep", help="train every combination of settings on a Dask cluster")
    s.add_argument("spec")
    s.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a dotted spec key and its values, e.g. optimizer.learning_rate=0.01,0.1 or "
                   "layers.1.units=16,32 (layers counted from 1); repeat for more keys")
    s.add_argument("--data", help="sklearn:<name>, a .npz (X, y) or a .csv (default: the spec's [data])")
    s.add_argument("--folds", type=int, help="K-fold cross-validation (stratified for classifiers); "
                   "default: the spec's test split validates")
    s.add_argument("--epochs", type=int)
    where = s.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask cluster's scheduler")
    s.add_argument("--dashboard", action="store_true", help="the local cluster's dashboard, on 127.0.0.1:8787")
    s.add_argument("-o", "--out-dir", help="where the results go (default sweeps/<name>)")
    s.add_argument("--no-progress", action="store_true")
    return parser


def cmd_derive(args):
    from derive import derive
    d = derive(args.spec)
    if args.format == "latex":
        text = d.latex(standalone=args.standalone)
    elif args.format == "markdown":
        text = d.markdown()
    else:
        text = d.text()
    if args.output:
        write_atomic(args.output, text)
        print(args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_generate(args):
    from codegen.generator import generate
    print(generate(args.spec, out_dir=args.out_dir, force=args.force))
    return 0


def cmd_check(args):
    from .gradcheck import TOLERANCE, gradient_check
    worst, where, count = gradient_check(args.spec, seed=args.seed)
    ok = worst <= TOLERANCE
    print(f"gradient check: worst relative error {worst:.3g} at {where} over {count} "
          f"coordinates (tolerance {TOLERANCE:g}): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def cmd_train(args):
    from derive.spec import load_spec

    from .data import load_data, split
    from codegen.generator import generate
    from .loader import import_generated

    spec = load_spec(args.spec)
    if args.epochs is not None and args.epochs < 1:
        raise DataError("--epochs must be >= 1")
    source = spec.data_source(args.data)
    fraction = spec.data.test_fraction if spec.data else 0.2
    X, y = load_data(source)
    X_train, y_train, X_test, y_test = split(X, y, fraction, spec.training.seed)

    started = time.perf_counter()
    path = generate(spec, out_dir=args.generated_dir)
    module = import_generated(path)
    print(f"module: {path}")
    # --epochs is the run's planned length too: one_cycle's T is epochs x batches per epoch
    trainer = module.Trainer(seed=spec.training.seed, **({} if args.epochs is None else {"epochs": args.epochs}))
    out = Path(args.out or os.path.join("runs", spec.name))
    interrupted = False
    try:
        trainer.fit(X_train, y_train, epochs=args.epochs, validation_data=(X_test, y_test),
                    progress=False if args.no_progress else True)
    except KeyboardInterrupt:
        interrupted = True
    except ValueError as err:
        raise DataError(f"{source}: {err}") from None
    elapsed = time.perf_counter() - started
    history = trainer.history

    metric = "accuracy" if module.TASK != "regression" else "R^2"
    train_score, test_score = trainer.score(X_train, y_train), trainer.score(X_test, y_test)
    print(f"trained {history.epochs_run} epochs in {elapsed:.2f} s"
          + (f" (stopped early: {history.stop_reason})" if history.stopped_early else ""))
    if history.loss:
        print(f"train loss {history.loss[-1]:.4f}, train {metric} {train_score:.4f}")
        print(f"test loss {history.val_loss[-1]:.4f}, test {metric} {test_score:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    trainer.save(out / "params.npz")
    record = history.as_dict() | {"test_score": test_score, "train_score": train_score,
                                   "metric": metric, "seconds": elapsed}
    write_atomic(out / "history.json", json.dumps(record, indent=2))
    print(f"saved parameters to {out / 'params.npz'} and history to {out / 'history.json'}")
    _save_history_png(history.as_dict(), out / "history.png")
    if interrupted:
        print("gradgen: interrupted; the parameters and history above are those of the last "
              "completed epoch", file=sys.stderr)
        return 130
    return 0


def _save_history_png(history, path):
    """The loss/accuracy plot beside history.json (skipped, with a note, without matplotlib
    or without a completed epoch)."""
    if not history["loss"]:
        return
    from .charts import MissingMatplotlib, history_png
    try:
        history_png(history, path)
    except MissingMatplotlib as err:
        print(f"gradgen: note: no {path.name}: {err}", file=sys.stderr)
        return
    print(f"saved the loss/accuracy plot to {path}")


def cmd_report(args):
    from derive.spec import load_spec

    from .charts import MissingMatplotlib
    from .report import build, write

    spec = load_spec(args.spec)
    output = Path(args.output or os.path.join("runs", spec.name, "report.html"))
    try:
        report = build(spec, data=args.data, optimizers=args.optimizers, epochs=args.epochs,
                       generated_dir=args.generated_dir, work_dir=args.work_dir,
                       progress=False if args.no_progress else True)
        path, pngs = write(report, output, png_dir=args.png)
    except MissingMatplotlib as err:
        raise DataError(str(err)) from None
    print(f"report: {path}")
    for png in pngs:
        print(f"chart: {png}")
    return 0


def cmd_sweep(args):
    from .sweep import sweep
    from .sweep_grid import parse_setting
    settings = {}
    for text in args.settings:
        key, values = parse_setting(text)
        if key in settings:
            raise SweepError(f"--set {key}: given twice")
        settings[key] = values
    rows = sweep(args.spec, settings, data=args.data, folds=args.folds, epochs=args.epochs,
                 scheduler=args.scheduler, workers=args.workers, dashboard=args.dashboard,
                 out_dir=args.out_dir, progress=False if args.no_progress else None)
    out = Path(args.out_dir or os.path.join("sweeps", _spec_name(args.spec)))
    ok = [r for r in rows if r.get("status") == "ok"]
    print(f"{len(rows)} trainings ({len(ok)} ok) in {out}: results.csv, results.json, sweep.html"
          + (", best.toml" if (out / "best.toml").exists() else ""))
    return 0


def _spec_name(path):
    from derive.spec import load_spec
    return load_spec(path).name


COMMANDS = {"derive": cmd_derive, "generate": cmd_generate, "train": cmd_train, "check": cmd_check,
            "report": cmd_report, "sweep": cmd_sweep}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    # OSError: an output path that cannot be written (no such folder, no permission)
    except (SpecError, FormulaError, DataError, SweepError, EditedByHandError, OSError) as err:
        if args.debug:
            raise
        print(f"gradgen: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gradgen: interrupted", file=sys.stderr)
        return 130


def _one_line(err):
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
