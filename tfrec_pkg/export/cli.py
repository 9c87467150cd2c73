"""``tfrec export`` / ``tools/export.py``: trained weights (or a quick synthetic training run)
-> versioned SavedModel for TF Serving (+ ONNX).

    tfrec export --model base_model --train-synthetic --epochs 2 --out saved_models/base_model
    tfrec export --model base_model --weights runs/base_model --out saved_models/base_model --onnx

``--weights`` is a trained-model directory written by ``model.save_trained(dir)``
(``model.json`` + TF checkpoint ``weights/ckpt``). Exit status 1 with a one-line reason on failure,
2 for a usage error (an unknown model name among them, answered before TensorFlow loads).
"""
from __future__ import annotations

import argparse
import os
import sys

from tfrec_pkg import command_flags, model_names


def build_parser(prog: str = "tfrec export"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.replace("tfrec export", prog),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="NAME",
                   help=f"registered model: {', '.join(model_names.names(model_names.declared()))}")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="trained-model directory (model.save_trained)")
    src.add_argument("--train-synthetic", action="store_true", help="train on the model's planted data first")
    p.add_argument("--epochs", type=int, default=None, help="with --train-synthetic")
    command_flags.add_quick(p, "with --train-synthetic: small data")
    p.add_argument("--out", required=True, help="base directory: versions go to OUT/<version>/")
    p.add_argument("--version", type=int, default=None, help="default: next integer")
    p.add_argument("--onnx", action="store_true", help="also write OUT/<version>.onnx (serving_indices)")
    command_flags.add_verbose(p)
    return p


def _load_model(args):
    from tfrec_pkg.models import registry
    from tfrec_pkg.models.persistence import load_trained

    entry = registry.entry(args.model)
    if args.weights:
        if not os.path.isdir(args.weights):
            raise FileNotFoundError(f"weights directory {args.weights!r} does not exist")
        model = load_trained(args.weights)
        if not isinstance(model, entry.model_class):
            raise ValueError(f"{args.weights} holds a {type(model).__name__}, not {args.model}")
        return model
    from tfrec_pkg import experiment

    splits = experiment.planted_splits(entry, quick=args.quick, seed=0)
    # seed_weights=False: this command has never seeded the weights' initialisation
    model, _ = experiment.fit(entry, splits, seed=0, seed_weights=False, epochs=args.epochs, verbose=2)
    return model


def main(argv=None, prog: str = "tfrec export") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if model_names.unknown([args.model]):
        parser.exit(2, f"{prog}: error: unknown model {args.model!r}; registered models: "
                    f"{', '.join(model_names.names(model_names.registered()))}\n")
    command_flags.load_tensorflow(args)
    try:
        from tfrec_pkg import export
        from tfrec_pkg.export.saved_model import signature_summary
        from tfrec_pkg.export.signatures import serving_signatures

        target = os.path.join(args.out, str(args.version)) if args.version else None
        if target and os.path.exists(target) and os.listdir(target):
            raise FileExistsError(f"target version {target} exists and is not empty")
        model = _load_model(args)
        path = export.save(model, args.out, version=args.version)
        print(f"exported {args.model} to {path}")
        for name, sig in signature_summary(serving_signatures(model)).items():
            ins = ", ".join(f"{k}:{v['dtype']}{v['shape']}" for k, v in sig["inputs"].items())
            outs = ", ".join(f"{k}:{v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())
            print(f"  signature {name}: ({ins}) -> ({outs})")
        for form, name in (("row", "sample_request.json"), ("columnar", "sample_request_columnar.json")):
            with open(os.path.join(path, "assets.extra", name)) as f:
                print(f"sample REST request ({form} format, assets.extra/{name}):\n{f.read()}")
        if args.onnx:
            onnx_path = export.to_onnx(path, os.path.join(args.out, f"{os.path.basename(path)}.onnx"))
            print(f"onnx: {onnx_path} (signature serving_indices, verified in onnxruntime)")
        return 0
    except Exception as e:  # one line, no traceback: this is a command-line tool
        print(f"export failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}", file=sys.stderr)
        return 1
