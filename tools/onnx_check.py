#!/usr/bin/python3
"""Checks ONNX files with onnx's own checker (full check, shape inference included) and strict
shape inference. Prints 'OK FILE' per valid file; exits non-zero when any file fails.

Usage: /usr/bin/python3 tools/onnx_check.py FILE...   (needs the onnx package: Debian's python3-onnx)
"""
import sys

import onnx
import onnx.checker
import onnx.shape_inference


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    graph = inferred.graph
    inputs = ", ".join(f"{v.name} {shape(v)}" for v in graph.input)
    outputs = ", ".join(f"{v.name} {shape(v)}" for v in graph.output)
    opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    return (f"ir_version {model.ir_version}, opset {opset}, producer {model.producer_name}, "
            f"{len(graph.node)} nodes, {len(graph.initializer)} initializers, {inputs} -> {outputs}")


def shape(value):
    dims = value.type.tensor_type.shape.dim
    return "[" + ", ".join(d.dim_param if d.dim_param else str(d.dim_value) for d in dims) + "]"


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            summary = check(path)
            print(f"OK {path}: {summary}")
        except Exception as e:  # noqa: BLE001 - any failure of one file is reported, the others still run
            failed += 1
            print(f"FAILED {path}: {type(e).__name__}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
