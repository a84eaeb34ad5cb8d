"""The compute settings: what the machine reports decides bf16 vs fp32; a user can force either."""

import numpy as np
import pytest

from faceanim import runtime
from faceanim.errors import SettingError
from faceanim.runtime import compute


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    for name in ("FACEANIM_PRECISION", "FACEANIM_DEVICE", "FACEANIM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    runtime._compute.cache_clear()
    yield
    runtime._compute.cache_clear()


def _machine(monkeypatch, flags, fp32_ms=10.0, bf16_ms=4.0):
    probes = []
    monkeypatch.setattr(runtime, "cpu_bf16_flags", lambda: list(flags))
    monkeypatch.setattr(runtime, "probe_bf16", lambda: probes.append(1) or {"fp32_ms": fp32_ms, "bf16_ms": bf16_ms})
    return probes


def test_no_bf16_units_means_fp32_without_a_probe(monkeypatch):
    probes = _machine(monkeypatch, [])
    c = compute(device="cpu")
    assert c.precision == "fp32" and not c.bf16 and "no bf16 units" in c.reason and probes == []


def test_bf16_units_are_used_only_when_the_probe_confirms_them(monkeypatch):
    _machine(monkeypatch, ["amx_bf16"], fp32_ms=10.0, bf16_ms=4.0)
    fast = compute(device="cpu")
    assert fast.precision == "bf16" and "amx_bf16" in fast.reason and fast.probe["bf16_ms"] == 4.0
    runtime._compute.cache_clear()
    _machine(monkeypatch, ["avx512_bf16"], fp32_ms=10.0, bf16_ms=25.0)   # flags that lie: emulated, slow
    slow = compute(device="cpu")
    assert slow.precision == "fp32" and "2.50x" in slow.reason


def test_a_user_forces_precision_by_argument_or_environment(monkeypatch):
    _machine(monkeypatch, [])
    assert compute("bf16", device="cpu").precision == "bf16"
    monkeypatch.setenv("FACEANIM_PRECISION", "bf16")
    assert compute(device="cpu").precision == "bf16"
    assert compute("fp32", device="cpu").precision == "fp32"  # the argument wins over the environment
    monkeypatch.setenv("FACEANIM_PRECISION", "half")
    with pytest.raises(SettingError, match="FACEANIM_PRECISION='half'"):
        compute(device="cpu")
    with pytest.raises(SettingError, match="precision must be one of"):
        compute("fp16", device="cpu")
    monkeypatch.setenv("FACEANIM_PRECISION", "auto")
    monkeypatch.setenv("FACEANIM_THREADS", "two")
    with pytest.raises(SettingError, match="whole number"):
        compute(device="cpu")


def test_autocast_follows_the_choice():
    import torch

    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    with compute("bf16", device="cpu").autocast():
        assert conv(x).dtype == torch.bfloat16
    with compute("fp32", device="cpu").autocast():
        assert conv(x).dtype == torch.float32


def test_the_probe_times_both_precisions_on_this_machine():
    p = runtime.probe_bf16(rounds=1)
    assert p["fp32_ms"] > 0 and p["bf16_ms"] > 0


def test_recognizer_precisions_and_backends_agree(monkeypatch):
    from faceanim.emotion import create_recognizer

    faces = np.random.default_rng(0).integers(0, 256, (24, 48, 48), dtype=np.uint8)
    fp32 = create_recognizer(precision="fp32")
    bf16 = create_recognizer(precision="bf16")
    onnx = create_recognizer(backend="onnx")
    assert (fp32.compute.precision, bf16.compute.precision, onnx.compute.precision) == ("fp32", "bf16", "fp32")
    p32, i32 = fp32.predict(faces)
    pbf, ibf = bf16.predict(faces)
    pox, iox = onnx.predict(faces)
    np.testing.assert_allclose(pox, p32, atol=1e-5)      # the same fp32 network, another runtime
    np.testing.assert_allclose(iox, i32, atol=1e-5)
    np.testing.assert_allclose(pbf, p32, atol=0.08)      # bf16 rounds: close, not equal
    assert "onnx fp32" in repr(onnx) and "bf16" in repr(bf16)
    with pytest.raises(SettingError, match="runs fp32"):
        create_recognizer(backend="onnx", precision="bf16")
    with pytest.raises(SettingError, match="unknown inference backend"):
        create_recognizer(backend="tensorrt")
