"""Content credentials (C2PA): the key made once outside the repo, every output signed with it, the
verdicts `faceanim verify` gives (trusted, invalid after a change, absent), the visible label, and the
test suite's own network block."""

from __future__ import annotations

import json
import os
import socket
import stat

import numpy as np
import pytest

from faceanim.credentials import init_keys, load_keys, read_credentials, sign_file
from faceanim.errors import FaceanimError, MediaError
from faceanim.io import read_image, write_image, write_video
from faceanim.provenance import LABEL_TEXT, Marker, add_label, read_watermark, verify_file


@pytest.fixture
def keys(tmp, monkeypatch):
    monkeypatch.setenv("FACEANIM_KEYS", str(tmp / "keys"))
    return init_keys(name="Test Studio")


def test_keys_are_made_once_outside_the_repo(tmp, monkeypatch, keys):
    from faceanim.config import REPO_ROOT

    assert keys.subject == "Test Studio" and load_keys().fingerprint == keys.fingerprint
    assert stat.S_IMODE(os.stat(tmp / "keys" / "signer.key").st_mode) == 0o600
    with pytest.raises(FaceanimError, match="already exists"):
        init_keys()  # a key is never overwritten by accident
    again = init_keys(name="Test Studio", force=True)  # the old one moved aside, not deleted
    assert again.fingerprint != keys.fingerprint
    assert any(p.name.startswith("keys.old-") and (p / "signer.key").exists() for p in tmp.iterdir())
    with pytest.raises(FaceanimError, match="1 to 64 characters"):
        init_keys(name=" ", force=True)  # checked before the old key is moved aside
    assert load_keys().fingerprint == again.fingerprint
    with pytest.raises(FaceanimError, match="inside the faceanim repository"):
        init_keys(directory=REPO_ROOT / "weights" / "keys")
    assert not (REPO_ROOT / "weights" / "keys").exists()


def test_signed_outputs_verify_and_changes_are_caught(tmp, keys, astronaut):
    img = tmp / "a.jpg"
    write_image(img, astronaut)
    rec = sign_file(img, keys, {"output_id": "abcd"})
    assert rec["credentials"]["signed_by"] == "Test Studio"
    v = read_credentials(img)
    assert v.state == "trusted" and v.ai_generated and v.generator.startswith("faceanim"), v
    assert read_image(img).shape == astronaut.shape  # still a plain JPEG to every reader
    # another machine (without this key) sees a valid signature by an unknown signer
    other = read_credentials(img, keys=type(keys)(directory=tmp, subject="", not_after="", fingerprint=""))
    assert other.state == "valid" and other.ai_generated
    # a changed pixel, or a damaged manifest: invalid, with the reason
    data = bytearray(img.read_bytes())
    data[-300] ^= 0xFF
    (tmp / "edited.jpg").write_bytes(bytes(data))
    assert read_credentials(tmp / "edited.jpg").state == "invalid"
    data = bytearray(img.read_bytes())
    data[data.find(b"jumb") + 300] ^= 0xFF
    (tmp / "damaged.jpg").write_bytes(bytes(data))
    damaged = verify_file(tmp / "damaged.jpg")
    assert damaged.credentials.state in ("invalid", "unreadable") and damaged.credentials.issues
    write_image(tmp / "plain.png", astronaut)
    assert read_credentials(tmp / "plain.png").state == "absent"
    (tmp / "junk.mp4").write_text("not a video")
    junk = verify_file(tmp / "junk.mp4")
    assert junk.error and junk.credentials.state in ("absent", "unreadable")


def test_animator_signs_every_format_it_writes(tmp, keys, astronaut, capsys):
    from faceanim.animate import Animator
    from faceanim.cli import main

    anim = Animator()
    for suffix in (".mp4", ".gif"):
        saved = anim.emotion(astronaut, "happy", frames=3, refine=False, output=tmp / f"a{suffix}")
        assert saved.info["provenance"]["credentials"]["key"] == keys.fingerprint[:16]
        v = verify_file(saved.path, frames=3)
        assert v.found and v.credentials.state == "trusted", v.line()
    clip = anim.emotion(astronaut, "happy", frames=2, refine=False)
    frames = clip.save_frames(tmp / "frames", ".png")
    assert len(frames) == 2 and all(verify_file(p).credentials.state == "trusted" for p in frames)
    off = Animator(provenance=False).emotion(astronaut, "happy", frames=2, refine=False, output=tmp / "off.mp4")
    assert verify_file(off.path, frames=2).credentials.state == "absent"
    unsigned = Animator(sign=False).emotion(astronaut, "happy", frames=2, refine=False, output=tmp / "u.mp4")
    assert verify_file(unsigned.path, frames=2).credentials.state == "absent"
    assert main(["verify", "--json", str(tmp / "a.mp4"), str(tmp / "off.mp4")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["watermark"] and rows[0]["credentials"]["state"] == "trusted"
    assert not rows[1]["watermark"] and rows[1]["credentials"]["state"] == "absent"
    assert main(["keys", "show"]) == 0 and "Test Studio" in capsys.readouterr().out


def test_no_key_means_unsigned_and_a_required_key_is_a_clear_error(tmp, astronaut):
    from faceanim.animate import Animator

    saved = Animator().emotion(astronaut, "happy", frames=2, refine=False, output=tmp / "a.mp4")
    assert "no key" in saved.info["provenance"]["credentials"]
    with pytest.raises(MediaError, match="keys init"):
        Marker(tmp / "b.mp4", sign=True)
    from faceanim.cli import main

    assert main(["keys", "show"]) == 2  # no key yet: a clear error, not a bug


def test_visible_label_is_off_by_default_and_one_setting_turns_it_on(tmp, astronaut):
    from faceanim.animate import Animator

    labelled = add_label(astronaut)
    h, w = astronaut.shape[:2]
    corner = np.abs(labelled[int(0.9 * h):, int(0.5 * w):].astype(int) - astronaut[int(0.9 * h):, int(0.5 * w):])
    assert corner.mean() > 10 and np.array_equal(labelled[: h // 2], astronaut[: h // 2])
    plain = Animator().emotion(astronaut, "happy", frames=2, refine=False)
    on = Animator(label=True).emotion(astronaut, "happy", frames=2, refine=False, output=tmp / "l.mp4")
    assert on.info["provenance"]["label"] == LABEL_TEXT and "label" not in plain.info.get("provenance", {})
    from faceanim.io import VideoReader

    with VideoReader(on.path) as r:
        first = next(iter(r)).image
    assert read_watermark(first).found  # the label does not hide the mark
    diff = np.abs(first.astype(int) - plain.frames[0].astype(int))
    assert diff[int(0.93 * h):, int(0.6 * w):].mean() > 3 * diff[: h // 2].mean()


def test_tests_cannot_reach_the_network():
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(OSError, match="network access blocked"):
        socket.getaddrinfo("pypi.org", 443)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)  # local sockets still work
    client.close()
    server.close()


def test_video_credentials_cover_mp4_and_survive_nothing_else(tmp, keys, astronaut):
    path = tmp / "v.mp4"
    write_video(path, [astronaut] * 3, fps=10)
    sign_file(path, keys)
    assert read_credentials(path).state == "trusted"
    from faceanim.io import VideoReader

    with VideoReader(path) as r:
        frames = [f.image for f in r]
    write_video(tmp / "re.mp4", frames, fps=10)  # a re-encode drops the manifest (the watermark stays)
    assert read_credentials(tmp / "re.mp4").state == "absent"


def test_model_card_is_written_from_the_metrics_files(tmp, capsys):
    from faceanim.cli import main
    from faceanim.config import REPO_ROOT
    from faceanim.report.card import model_card

    reports = tmp / "reports"
    reports.mkdir()
    (reports / "emotion_metrics.json").write_text(json.dumps({"weights": "ab" * 32, "metrics": {
        "recognizer": "toy", "private_accuracy": 0.6543, "private_n": 10, "private_recall_fear": 0.123,
        "private_recall_happy": 0.9, "robust_blur_accuracy": 0.5, "peer_fer_robust_blur_accuracy": 0.25,
        "cross_mead_accuracy": 0.54, "cross_mead_n": 2668, "peer_fer_cross_mead_accuracy": 0.571,
        "between_ckplus_ordering_head_spearman": 0.793, "between_ckplus_p_not_neutral_spearman": 0.726}}))
    card = model_card(reports)
    assert "| MEAD, every frame | 2668 | 54.0% | 57.1% |" in card
    assert "| intensity head (shipped recipe) | 0.793 | n/a |" in card and "| ours, `1 - p(neutral)` | 0.726 |" in card
    assert "Model `toy`" in card and "| FER-2013 PrivateTest | 10 | 65.4% |" in card
    assert "Weakest on PrivateTest: fear (12.3%)" in card and "| blur | 50.0% | 25.0% |" in card
    assert "animation_metrics.json` is missing" in card and "provenance.json` is missing" in card
    assert "CK+" in card and "non-commercial research" in card and "Out of scope" in card
    assert main(["card", "-o", str(tmp / "card.md")]) == 0
    real = (tmp / "card.md").read_text()
    metrics = json.loads((REPO_ROOT / "reports" / "emotion_metrics.json").read_text())["metrics"]
    assert f"{100 * metrics['private_accuracy']:.1f}%" in real
    assert main(["card", "-o", str(tmp / "card.txt")]) == 2 and "use one of .md" in capsys.readouterr().err


def test_consent_lines_are_in_the_readme_and_every_animating_notebook():
    from faceanim.config import REPO_ROOT
    from faceanim.provenance import CONSENT

    assert CONSENT in (REPO_ROOT / "README.md").read_text()
    for name in ("04_animate", "08_live_animation"):
        nb = json.loads((REPO_ROOT / "notebooks" / f"{name}.ipynb").read_text())
        assert CONSENT in "".join(nb["cells"][0]["source"]), name


def test_committed_model_card_is_the_one_the_metrics_make():
    from faceanim.config import REPO_ROOT
    from faceanim.report.card import model_card

    committed = (REPO_ROOT / "reports" / "model_card.md").read_text()
    assert committed == model_card(), "reports/model_card.md is stale: run `faceanim card`"
