"""Training, evaluation and the default recipe's assembly, end to end on a tiny built dataset."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from c3po.cli import main
from c3po.dataset import DatasetConfig, build
from tests.test_dataset import prism_objects

ROOT = Path(__file__).resolve().parents[1]
# three labels on plain prisms (no shape here is anything but a prism), four objects each
OUTLINES = {
    "pistol": lambda i: [(0, 0), (40 + 4 * i, 0), (40 + 4 * i, 5), (0, 5)],
    "mug": lambda i: [(0, 0), (8 + i, 0), (8 + i, 8 + i), (0, 8 + i)],
    "gear": lambda i: [(0, 0), (30 + 3 * i, 0), (30 + 3 * i, 20), (0, 20)],
}
LAYERS = {"pistol": 6, "mug": 25, "gear": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = prism_objects(tmp_path_factory.mktemp("objects"), OUTLINES, LAYERS)
    out = tmp_path_factory.mktemp("ds") / "tiny"
    cfg = DatasetConfig.from_preset("c3po", source=str(root), proj_size=64, cam_size=32, scale=0.002,
                                    per_class=4000, shard_objects=3, seq_max_frames=10)
    build(cfg, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Two multiview runs of one epoch, seeds 1 and 2 (an ensemble's members)."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (1, 2):
        assert main(["train", "--model", "multiview", "--data", str(data), "--out", str(root / f"m{seed}"),
                     "--epochs", "1", "--batch-size", "8", "--seed", str(seed), "--threads", "1"]) == 0
    return root


def test_train_and_evaluate_write_the_promised_files_and_keys(data, runs, tmp_path):
    run = runs / "m1"
    for name in ("train_config.json", "checkpoint.safetensors", "checkpoint.json", "history.json", "curves.png",
                 "bundle/bundle.json", "bundle/projection.safetensors", "test/metrics.json", "test/confusion.png",
                 "test/roc.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "train_config.json").read_text())["seed"] == 1
    assert main(["evaluate", "--model", str(run / "bundle"), "--data", str(data), "--split", "test",
                 "--out", str(tmp_path / "ev")]) == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for key in ("n", "accuracy", "per_class_accuracy", "confusion", "roc_auc", "weapon_recall",
                "false_positive_rate", "by_pose", "by_slicer", "by_print"):
        assert key in m, key
    assert m["n"] > 0 and 0 <= m["accuracy"] <= 1 and len(m["confusion"]) == 3
    assert sum(map(sum, m["confusion"])) == m["n"]
    assert m["accuracy"] == json.loads((run / "test" / "metrics.json").read_text())["accuracy"]
    for png in ("confusion.png", "roc.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:4] == b"\x89PNG"


def test_default_recipe_assembles_an_ensemble_the_detector_runs(data, runs, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "models"))
    import make_default

    from c3po.detect import Detector
    from c3po.runtime import load_network

    monkeypatch.setattr(make_default, "RUNS", runs)
    monkeypatch.setattr(make_default, "OUT", tmp_path / "default")
    monkeypatch.setattr(make_default, "ROLES", {"projection": ["m1", "m2"]})
    make_default.assemble(data)
    make_default.add_novelty(data)
    meta = json.loads((tmp_path / "default" / "bundle.json").read_text())
    entry = meta["models"]["projection"]
    assert entry["weights"] == ["projection.safetensors", "projection-2.safetensors"]
    members = [json.loads((runs / r / "test" / "metrics.json").read_text()) for r in ("m1", "m2")]
    assert entry["metrics"]["train_seconds"] == pytest.approx(sum(m["train_seconds"] for m in members), abs=0.11)
    assert [m["accuracy"] for m in entry["metrics"]["members"]] == [m["accuracy"] for m in members]
    assert (runs / "ensemble" / "test" / "confusion.png").is_file()
    # the detector averages the two members (no gate before calibration chose its thresholds)
    entry["novelty"] = {"threshold": [1e9, 1e9]}
    det = Detector(meta, [load_network(tmp_path / "default", {**entry, "weights": w}) for w in entry["weights"]])
    assert len(det.nets) == 2 and len(det.novelty) == 2
    x = np.random.default_rng(0).integers(0, 255, (2, 3, 64, 64), dtype=np.uint8)
    want = np.mean([net(x.astype(np.float32) / 255) for net in det.nets], axis=0)
    np.testing.assert_allclose(det.infer(x)[0], want, atol=1e-6)
    assert not np.allclose(det.nets[0](x / 255.0), det.nets[1](x / 255.0)), "members of two seeds differ"
    assert Detector.from_bundle(tmp_path / "default").novelty is None  # gates come from models/calibrate.py


def test_augmentation_mirrors_the_print_and_varies_line_width():
    """Training's mirror of three projections is the projections of the print mirrored in
    X or Y, pixel for pixel (the views stay one object); lines are thickened, thinned or
    the image shrunk in about the documented shares."""
    import torch
    import torch.nn.functional as F
    from dataclasses import replace

    from c3po.gcode import parse_gcode
    from c3po.render import project_views
    from c3po.train import _augment

    tp = parse_gcode(ROOT / "data" / "samples" / "pistol.gcode.gz").object_moves()

    def views(mirror=()):
        start, end = tp.start.copy(), tp.end.copy()
        for axis in mirror:
            start[:, axis] *= -1
            end[:, axis] *= -1
        images, _ = project_views(replace(tp, start=start, end=end), 64, views=["top", "front", "side"])
        return torch.from_numpy(np.asarray(images, np.float32) / 255)

    printed = [views(m) for m in ((), (0,), (1,), (0, 1))]  # as printed, mirrored in X, in Y, in both
    assert all(not torch.equal(printed[0], p) for p in printed[1:])  # the sample pistol is not symmetric
    n = 400
    out = _augment(printed[0][None].repeat(n, 1, 1, 1), torch.Generator().manual_seed(0), views3=True)
    kinds = {"as is": lambda v: v, "thicker": lambda v: F.max_pool2d(v[None], 3, 1, 1)[0],
             "thinner": lambda v: -F.max_pool2d(-v[None], 3, 1, 1)[0]}
    count = {(m, k): sum(torch.equal(o, f(p)) for o in out) for m, p in enumerate(printed) for k, f in kinds.items()}
    for m in range(4):  # each mirror about a quarter of the untouched 0.7 x 0.7
        assert 0.25 * 0.49 * n * 0.6 < count[m, "as is"] < 0.25 * 0.49 * n * 1.4, count
    for k in ("thicker", "thinner"):  # p = 0.15 each, unshrunk
        assert 0.15 * 0.7 * n * 0.6 < sum(count[m, k] for m in range(4)) < 0.15 * 0.7 * n * 1.4, count
    shrunk = n - sum(count.values())  # p = 0.3, drawn after the rest
    assert 0.3 * n * 0.7 < shrunk < 0.3 * n * 1.3, count
