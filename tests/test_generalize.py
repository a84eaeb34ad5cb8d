"""Issue 18's measurements: faces unlike FER's (crossdata), batch mixing, and one intensity scale across people."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs

from faceanim.emotion.crossdata import FaceSet, cross_dataset
from faceanim.emotion.intensity import BetweenPerson, fit_intensity_head, spearman
from faceanim.emotion.train import TrainConfig, mix_batch
from faceanim.errors import SettingError
from faceanim.labels import EMOTIONS


# ---------------------------------------------------------------- batch mixing
def _batch(n=16):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((n, 1, 48, 48), generator=gen)
    y = torch.eye(7)[torch.randint(0, 7, (n,), generator=gen)]
    return x, y


def test_mixup_mixes_pixels_and_targets_in_the_same_share():
    x, y = _batch()
    cfg = TrainConfig(mix="mixup", mix_p=1.0)
    xm, ym = mix_batch(x, y, cfg, torch.Generator().manual_seed(3))
    assert torch.allclose(ym.sum(1), torch.ones(len(y)))
    assert not torch.equal(xm, x)
    # a mixed face is lam * x_i + (1 - lam) * x_j: the target's share of class y_i is at least lam's part
    lam = float(ym.max(1).values.min())
    assert 0.0 < lam <= 1.0
    assert xm.min() >= 0 and xm.max() <= 1


def test_cutmix_target_share_is_the_pasted_area():
    x, y = _batch()
    x[:] = 0.0
    y = torch.eye(7)[torch.arange(16) % 7]
    x += torch.arange(16, dtype=torch.float32).view(-1, 1, 1, 1)  # each face one flat value: its index
    xm, ym = mix_batch(x, y, TrainConfig(mix="cutmix", mix_p=1.0), torch.Generator().manual_seed(5))
    pasted = 0
    for i in range(16):
        kept = float((xm[i] == i).float().mean())
        others = [int(v) for v in torch.unique(xm[i]) if int(v) != i]
        expected = kept * y[i]
        if others:  # one box from one other face j: its target in the box's share
            (j,) = others
            expected = expected + (1 - kept) * y[j]
            pasted += 1
        assert torch.allclose(ym[i], expected, atol=1e-5)
    assert pasted > 0


def test_mixing_off_or_not_drawn_leaves_the_batch():
    x, y = _batch()
    for cfg in (TrainConfig(), TrainConfig(mix="both", mix_p=0.0)):
        xm, ym = mix_batch(x, y, cfg, torch.Generator().manual_seed(0))
        assert torch.equal(xm, x) and torch.equal(ym, y)
    with pytest.raises(SettingError, match="mix must be one of"):
        TrainConfig(mix="blend").validate()
    with pytest.raises(SettingError, match="unknown training set"):
        TrainConfig(extra="ckplus48,kdef").validate()
    with pytest.raises(SettingError, match="mix_p"):
        TrainConfig(mix="mixup", mix_p=1.5).validate()


# ---------------------------------------------------------------- one scale across people
def test_absolute_levels_enter_the_head_next_to_the_orderings():
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(8):  # within a sequence the expression moves along dim 0
        f = rng.normal(0, 0.3, (12, 4))
        f[:, 0] += np.linspace(0, 3, 12)
        seqs.append(f)
    # faces of many other people whose known level shows along dim 2 as well (say, a wrinkle no sequence moves)
    lf = rng.normal(0, 1, (400, 4))
    lv = (lf[:, 2] > 0).astype(np.float32)
    lf[:, 0] += 0.5 * lv
    w0 = fit_intensity_head(seqs)
    w1 = fit_intensity_head(seqs, levels=[(lf, lv)], level_weight=2.0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(lv, lf @ w1[0]) > roc_auc_score(lv, lf @ w0[0]) + 0.05
    assert abs(w1[0][2]) > 3 * abs(w0[0][2])
    held = rng.normal(0, 0.3, (12, 4))
    held[:, 0] += np.linspace(0, 3, 12)
    # still ordered within a sequence (less tightly: dim 2's noise now counts too)
    assert spearman(held @ w1[0]) > 0.7 and (held @ w1[0])[-3:].mean() > (held @ w1[0])[:3].mean() + 2


def test_between_person_table_pools_people_and_measures_the_spread():
    faces = pd.DataFrame({"set": "x", "person": ["a"] * 4 + ["b"] * 4, "group": ["a"] * 4 + ["b"] * 4,
                          "level": [0, 0, 1, 1] * 2,
                          "good": [0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9],
                          "biased": [0.0, 0.0, 0.4, 0.4, 0.5, 0.5, 1.0, 1.0]})
    bp = BetweenPerson(faces=faces, within={"good": 1.0})
    t = bp.table().set_index("score")
    assert t.loc["good", "spearman"] == pytest.approx(1.0)
    assert t.loc["good", "spread_full"] == pytest.approx(0.0)
    assert t.loc["biased", "spread_full"] == pytest.approx(0.3)  # person means 0.4 and 1.0
    assert t.loc["biased", "spearman"] < t.loc["good", "spearman"]
    s = bp.summary()
    assert s["between_x_good_spearman"] == pytest.approx(1.0) and s["within_ckplus_good_spearman_mean"] == 1.0


# ---------------------------------------------------------------- cross-dataset scoring
class _Fixed:
    """A judge that reads a fixed class per face (its pixel value)."""

    def predict(self, crops):
        cls = np.asarray(crops)[:, 0, 0].astype(int)
        p = np.full((len(cls), 7), 0.01, np.float32)
        p[np.arange(len(cls)), cls] = 0.94
        return p, 1 - p[:, 6]


def test_cross_dataset_scores_faces_and_clip_majorities():
    preds = np.array([3, 3, 0, 4, 4, 4, 6, 2])
    labels = np.array([3, 3, 3, 4, 4, 4, 6, 2])
    images = np.repeat(preds[:, None, None], 48, 1).repeat(48, 2).astype(np.uint8)
    fs = FaceSet("t", images, labels, np.array(list("aaabbbcc")), np.array(["c1"] * 3 + ["c2"] * 3 + ["c3", "c4"]),
                 np.ones(8, np.float32))
    r = cross_dataset({"fixed": _Fixed()}, {"t": fs})
    t = r.table.set_index("unit")
    assert t.loc["face", "accuracy"] == pytest.approx(7 / 8)
    assert t.loc["clip", "accuracy"] == pytest.approx(1.0) and t.loc["clip", "n"] == 4  # c1's majority is happy
    per = r.per_emotion()
    assert per.loc[("t", "fixed"), "happy"] == pytest.approx(2 / 3)
    m = r.metrics()
    assert m["cross_t_accuracy"] == pytest.approx(7 / 8) and m["cross_t_clip_accuracy"] == 1.0
    assert m["cross_t_recall_happy"] == pytest.approx(2 / 3) and m["cross_t_recall_sad"] == 1.0


@needs("mead")
def test_mead_faces_are_aligned_labelled_and_cached(tmp):
    from faceanim.emotion.crossdata import CROSS_SIZE, HELDOUT_ACTORS, heldout_mask, mead_faces

    fs = mead_faces(cache=tmp / "m.npz", every=25, progress=False)
    assert np.array_equal(heldout_mask(fs), np.isin(fs.people, HELDOUT_ACTORS)) and heldout_mask(fs).any()
    assert fs.images.shape[1:] == (CROSS_SIZE, CROSS_SIZE) and fs.images.dtype == np.uint8
    assert set(np.unique(fs.people)) >= {"M030", "W009"}
    neutral = fs.labels == EMOTIONS.index("neutral")
    assert neutral.any() and np.all(fs.levels[neutral & (fs.people != "eamm")] == 0)
    assert np.all(fs.labels[fs.levels == 1] != EMOTIONS.index("neutral"))
    assert np.isnan(fs.levels[fs.people == "eamm"]).all()
    assert (fs.labels == -1).any()  # contempt: no class of ours, kept for intensity
    again = mead_faces(cache=tmp / "m.npz", every=25, progress=False)
    assert np.array_equal(again.images, fs.images) and np.array_equal(again.groups, fs.groups)


@needs("ckplus48", "ckplus_sequences")
def test_training_faces_never_hold_a_heldout_person():
    from faceanim.data import load_ckplus_sequences
    from faceanim.emotion.crossdata import ckplus48_faces, heldout_mask, training_faces

    ck = ckplus48_faces()
    held = heldout_mask(ck)
    seq_subjects = set(load_ckplus_sequences().subjects)
    assert seq_subjects <= set(ck.people[held].tolist())  # the intensity figures' people never train
    assert 0.3 < held.mean() < 0.8
    train = training_faces("ckplus48", progress=False)
    assert len(train) == int((~held).sum()) and train.images.shape[1:] == (48, 48)
    assert not set(train.people.tolist()) & set(ck.people[held].tolist())
    assert not set(train.people.tolist()) & seq_subjects
    with pytest.raises(SettingError, match="unknown training set"):
        training_faces("kdef")



# ---------------------------------------------------------------- model soups
class _Split:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels


class _FakeFer:
    """PublicTest of 12 faces that are all happy (what a soup is chosen on)."""

    def split(self, name):
        rng = np.random.default_rng(0)
        return _Split(rng.integers(0, 255, (12, 48, 48), dtype=np.uint8), np.full(12, EMOTIONS.index("happy")))


def _tiny_net_weights(root, name, favour: int, push: float, extra=""):
    from faceanim.emotion.model import EmotionNet, NetConfig
    from faceanim.weights import save_weights

    torch.manual_seed(0)
    net = EmotionNet(NetConfig(widths=(4, 4, 4, 4)))
    with torch.no_grad():
        net.classifier.bias.zero_()
        net.classifier.bias[favour] = push
    save_weights({"model": net.state_dict()}, name, {"kind": "emotion", "net": net.config.to_dict(),
                                                     "train_config": {"extra": extra}, "command": f"made {name}"},
                 root=root)


def test_average_states_is_the_weighted_mean_and_refuses_mixed_architectures():
    from faceanim.emotion.model import EmotionNet, NetConfig
    from faceanim.emotion.soup import average_states

    a, b = EmotionNet(NetConfig(widths=(4, 4, 4, 4))).state_dict(), EmotionNet(NetConfig(widths=(4, 4, 4, 4))).state_dict()
    b = {k: (v + 1 if v.is_floating_point() else v + 5) for k, v in b.items()}
    mean = average_states([a, b], [0.25, 0.75])
    key = next(k for k, v in a.items() if v.is_floating_point() and v.numel() > 1)
    assert torch.allclose(mean[key], 0.25 * a[key] + 0.75 * b[key], atol=1e-6)
    counter = next(k for k in a if k.endswith("num_batches_tracked"))
    assert torch.equal(mean[counter], a[counter])  # counters from the first network, not averaged
    wide = EmotionNet(NetConfig(widths=(8, 8, 8, 8))).state_dict()
    with pytest.raises(SettingError, match="architectures"):
        average_states([a, wide])
    with pytest.raises(SettingError, match="summing to 1"):
        average_states([a, b], [0.5, 0.6])


def test_greedy_soup_keeps_what_helps_on_publictest_and_exports_one_network(tmp, monkeypatch):
    import json

    from faceanim.emotion import EmotionRecognizer, NetConfig
    from faceanim.emotion import export as export_mod
    from faceanim.emotion.soup import export_soup, greedy_soup

    happy, angry = EMOTIONS.index("happy"), EMOTIONS.index("angry")
    _tiny_net_weights(tmp, "good", happy, 10.0)
    _tiny_net_weights(tmp, "good_too", happy, 10.0, extra="ckplus48")
    _tiny_net_weights(tmp, "bad", angry, 100.0, extra="mead")  # averaged in, it would turn every face angry
    # a training run's best.pt (its config's tuples, not the metadata's lists) mixes with committed weights
    from faceanim.emotion.train import TrainConfig
    from faceanim.weights import load_weights

    cfg = TrainConfig()
    cfg.net = NetConfig(widths=(4, 4, 4, 4))
    torch.save({"model": load_weights("good", root=tmp)[0]["model"], "config": cfg.to_dict()}, tmp / "best.pt")
    soup = greedy_soup(["bad", "good", "good_too", tmp / "best.pt"], fer=_FakeFer(), root=tmp, progress=False)
    assert [x.label for x in soup.ingredients] == ["good", "good_too", str(tmp / "best.pt")]
    assert soup.public_acc == 1.0
    tried = soup.tried.set_index("candidate")
    assert tried.loc["bad", "alone"] == 0.0 and not tried.loc["bad", "kept"]
    assert tried.loc["bad", "soup_with_it"] == 0.0

    monkeypatch.setattr(export_mod, "has_dataset", lambda name: False)  # no CK+: the head stays untrained
    path = export_soup(soup, "souped", root=tmp, progress=False)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert [p["name"] for p in meta["soup"]["ingredients"]] == ["good", "good_too", str(tmp / "best.pt")]
    assert meta["train_config"]["extra"] == "ckplus48"  # the kept ingredient's extra people, not the left-out one's
    assert "ckplus48" in meta["protocol"]
    rec = EmotionRecognizer("souped", weights_root=tmp, precision="fp32")
    probs, _ = rec.predict(_FakeFer().split("PublicTest").images)
    assert (probs.argmax(1) == happy).all()
    with pytest.raises(SettingError, match="exist already"):
        export_soup(soup, "souped", root=tmp, progress=False)


def test_train_refuses_to_replace_weights_before_training(tmp, capsys):
    from faceanim.cli import main

    _tiny_net_weights(tmp, "mine", 0, 1.0)
    before = (tmp / "mine.pt").read_bytes()
    code = main(["train", "emotion", "--epochs", "1", "--name", "mine", "--weights-dir", str(tmp),
                 "--run-dir", str(tmp / "run")])
    assert code == 2
    assert "exist already" in capsys.readouterr().err
    assert not (tmp / "run").exists()  # refused before any training
    assert (tmp / "mine.pt").read_bytes() == before
    code = main(["train", "soup", "nothing_here", "--name", "x", "--weights-dir", str(tmp)])
    assert code == 2 and "neither emotion weights" in capsys.readouterr().err
    (tmp / "broken.pt").write_bytes(b"not a checkpoint")
    code = main(["train", "soup", str(tmp / "broken.pt"), "--name", "x", "--weights-dir", str(tmp)])
    assert code == 2 and "could not be read as a training checkpoint" in capsys.readouterr().err
