"""Models, training loop, checkpoints and export to the numpy runtime."""

import json

import numpy as np
import pytest
import torch

from c3po.export import add_model, check_roundtrip, write_bundle
from c3po.nn import create_model, list_models
from c3po.runtime import Network, load_safetensors, save_safetensors
from c3po.train import TrainConfig, evaluate_arrays, load_checkpoint, train


def _toy(name: str, n: int = 64, seed: int = 0):
    """Two classes any of the models can tell apart: vertical vs horizontal stripes."""
    rng = np.random.default_rng(seed)
    model = create_model(name, classes=2)
    shape = model.input_shape
    y = rng.integers(0, 2, n)
    size = shape[-1]
    stripes = (np.arange(size) // 2 % 2 * 200).astype(np.uint8)
    pattern = np.stack([np.tile(stripes[None, :], (size, 1)), np.tile(stripes[:, None], (1, size))])
    lead = (n, 3, 1) if name == "sequence" else (n, shape[0])
    x = rng.integers(0, 40, (*lead, size, size), dtype=np.uint8)
    x += pattern[y].reshape(n, *([1] * (len(lead) - 1)), size, size)
    return x, y


def test_registry():
    assert list_models() == ["lenet5", "multiview", "sequence"]
    with pytest.raises(ValueError, match="unknown model"):
        create_model("resnet9000")


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_and_loss_falls(tmp_path, name):
    x, y = _toy(name, n=96)  # enough steps for batch-norm running statistics to settle
    cfg = TrainConfig(model=name, out=str(tmp_path), epochs=5, batch_size=16, lr=3e-3, augment=False, classes=["a", "b"])
    model, hist = train(cfg, x, y, x[:16], y[:16])
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert hist[-1]["val_acc"] >= 0.9
    assert (tmp_path / "train_config.json").exists() and (tmp_path / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("name", list_models())
def test_export_matches_torch(tmp_path, name):
    model = create_model(name, classes=5)
    model.train()
    x = torch.rand(6, 4, *model.input_shape) if name == "sequence" else torch.rand(6, *model.input_shape)
    for _ in range(3):
        model(x)  # non-trivial batch-norm statistics to fold
    model.eval()
    entry = add_model(tmp_path, "m", model, {"type": "test"})
    weights = load_safetensors(tmp_path / "m.safetensors")
    assert not any("bn" in k for k in weights)  # folded away
    if name == "sequence":
        from c3po.runtime import load_network

        with torch.no_grad():
            want = torch.softmax(model(x), -1).numpy()  # (N, T, K): after each frame
        net = load_network(tmp_path, entry)
        for t in (1, 2, 4):  # the runtime's answer after frame t equals torch's causal one
            np.testing.assert_allclose(net(x[:, :t].numpy()), want[:, t - 1], atol=1e-4)
    else:
        assert check_roundtrip(model, entry, tmp_path, x.numpy()) < 1e-4
    write_bundle(tmp_path, ["pistol", "mug", "rifle", "gear", "drill"], {"projection": entry})
    meta = json.loads((tmp_path / "bundle.json").read_text())
    assert meta["weapon_classes"] == ["pistol", "rifle"]


def _interrupted_then_resumed(out, cfg: dict, x, y, val: int, monkeypatch):
    """Train killed right after the checkpoint of epoch 2, then resumed; (model, history)."""
    import c3po.train

    save = c3po.train.save_checkpoint

    def save_then_die(*args):
        save(*args)
        if args[4] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(c3po.train, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(out), **cfg), x, y, x[:val], y[:val])
    monkeypatch.setattr(c3po.train, "save_checkpoint", save)
    return train(TrainConfig(out=str(out), resume=True, **cfg), x, y, x[:val], y[:val])


def test_checkpoint_roundtrip_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    x, y = _toy("lenet5", n=48)
    base = dict(model="lenet5", epochs=3, batch_size=16, augment=True, classes=["a", "b"])
    full, _ = train(TrainConfig(out=str(tmp_path / "a"), **base), x, y, x[:8], y[:8])
    resumed, hist = _interrupted_then_resumed(tmp_path / "b", base, x, y, 8, monkeypatch)
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # and the checkpoint holds exactly the final weights
    again = create_model("lenet5", classes=2)
    load_checkpoint(tmp_path / "b" / "checkpoint", again)
    for a, b in zip(resumed.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(evaluate_arrays(resumed, x), evaluate_arrays(again, x))


def test_safetensors_is_readable_by_the_reference_library(tmp_path):
    from safetensors.numpy import load_file, save_file

    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, -2], np.int64)}
    save_safetensors(tmp_path / "ours.safetensors", arrays)
    theirs = load_file(str(tmp_path / "ours.safetensors"))
    save_file(arrays, str(tmp_path / "ref.safetensors"))
    ours = load_safetensors(tmp_path / "ref.safetensors")
    for k, v in arrays.items():
        np.testing.assert_array_equal(theirs[k], v)
        np.testing.assert_array_equal(ours[k], v)


def test_broken_weights_are_a_model_error(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00\x01")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_safetensors(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="lack"):
        Network([{"type": "linear", "name": "fc"}], {})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (runs where a GPU is present)")
@pytest.mark.parametrize("name", list_models())
def test_training_on_cuda_is_deterministic_resumable_and_exports(tmp_path, name, monkeypatch):
    x, y = _toy(name, n=96)
    base = dict(model=name, epochs=3, batch_size=16, lr=3e-3, augment=True, classes=["a", "b"], device="cuda")
    a, hist = train(TrainConfig(out=str(tmp_path / "a"), **base), x, y, x[:16], y[:16])
    assert hist[-1]["loss"] < hist[0]["loss"]  # learning itself: test_every_model_trains_and_loss_falls
    assert next(a.parameters()).device.type == "cpu"  # returned on the CPU, ready to export
    b, _ = train(TrainConfig(out=str(tmp_path / "b"), **base), x, y, x[:16], y[:16])
    c, _ = _interrupted_then_resumed(tmp_path / "c", base, x, y, 16, monkeypatch)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), f"{k}: two runs of one seed differ"
        assert torch.equal(va, vc), f"{k}: the resumed run differs"
    entry = add_model(tmp_path / "bundle", "m", a, {"type": "test"})
    xf = x[:8].astype(np.float32) / 255
    with torch.no_grad():
        want = torch.softmax(a(torch.from_numpy(xf)), -1).numpy()
    from c3po.runtime import load_network

    got = load_network(tmp_path / "bundle", entry)(xf)
    np.testing.assert_allclose(got, want[:, -1] if name == "sequence" else want, atol=1e-4)
