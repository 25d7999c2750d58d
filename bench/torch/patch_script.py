#!/usr/bin/env python3
"""The careful python-onnx patch (issue 29's yardstick for `onnxsteer patch`): load the graph without its weights,
insert one Mul per site holding (1 + gamma) at the selected units and 1 elsewhere before the site's projection,
save the graph and hard-link the external data file. Usage: patch_script.py MODEL_DIR PROFILE.json OUT_DIR"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main(model_dir, profile_path, out_dir):
    model = onnx.load(os.path.join(model_dir, "model.onnx"), load_external_data=False)
    profile = json.load(open(profile_path))
    sites = {s["id"]: s for s in profile["sites"]}
    scales = {}
    for unit in profile["units"]:
        site = sites[unit["site"]]
        scale = scales.setdefault(unit["site"], np.ones(site["width"], dtype=np.float32))
        scale[unit["index"]] *= 1.0 + unit["gamma"]
    nodes = {n.name: n for n in model.graph.node}
    for site_id, scale in scales.items():
        site = sites[site_id]
        value = site["value"]
        name = f"onnxsteer_py/{site_id}"
        model.graph.initializer.append(numpy_helper.from_array(scale, f"{name}/scale"))
        steered = f"{name}/out"
        if site["kind"] == "mlp-out":  # the projection's output: every reader takes the steered value
            for n in model.graph.node:
                for i, x in enumerate(n.input):
                    if x == value:
                        n.input[i] = steered
        else:  # the projection's input
            projection = nodes[site["projectionNode"]]
            for i, x in enumerate(projection.input):
                if x == value:
                    projection.input[i] = steered
        model.graph.node.append(helper.make_node("Mul", [value, f"{name}/scale"], [steered], name=f"{name}/Mul"))
    # Nodes were appended at the end: restore a topological order (ONNX requires it) by moving each Mul after its producer.
    order = list(model.graph.node)
    produced = {o: i for i, n in enumerate(order) for o in n.output}
    muls = [n for n in order if n.name.startswith("onnxsteer_py/")]
    rest = [n for n in order if not n.name.startswith("onnxsteer_py/")]
    by_producer = {}
    for m in muls:
        by_producer.setdefault(m.input[0], []).append(m)
    sorted_nodes = []
    inputs = {i.name for i in model.graph.input}
    for m in muls:
        if m.input[0] in inputs:
            sorted_nodes.append(m)
    for n in rest:
        sorted_nodes.append(n)
        for o in n.output:
            sorted_nodes.extend(by_producer.get(o, []))
    del model.graph.node[:]
    model.graph.node.extend(sorted_nodes)
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(model, os.path.join(out_dir, "model.onnx"))
    for f in os.listdir(model_dir):
        if f != "model.onnx":
            os.link(os.path.join(model_dir, f), os.path.join(out_dir, f))


if __name__ == "__main__":
    main(*sys.argv[1:4])
