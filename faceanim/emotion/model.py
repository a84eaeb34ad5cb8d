"""The emotion network: a small residual CNN for 48x48 gray faces, with an intensity head.

It is sized for the CPU: about 2M parameters, hundreds of aligned faces a second on 2 cores, in fp32 or
in bf16 where the CPU has bf16 units (``bench/bench_emotion.py`` measures both, and names the CPU). Every
input is standardised per image inside the network, so a darker or brighter photo reaches the
convolutions unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..runtime import Compute, compute

__all__ = ["NetConfig", "NET_SIZES", "EmotionNet", "NetOutputs", "predict_logits", "to_tensor"]


@dataclass
class NetConfig:
    """Architecture of :class:`EmotionNet` (stored in the weights' metadata, so a file rebuilds itself)."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    dropout: float = 0.3
    n_classes: int = 7
    input_size: int = 48
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        d = dict(d)
        d["widths"], d["blocks"] = tuple(d["widths"]), tuple(d["blocks"])
        return cls(**d)


#: named architectures: ``base`` (2.0M parameters, every shipped recognizer so far) and ``wide`` (twice the
#: width, a second block in the middle stages: 9.3M parameters, near ResNet-18's 11M, for a GPU or a long CPU run)
NET_SIZES = {"base": {"widths": (32, 64, 128, 256), "blocks": (1, 1, 1, 1)},
             "wide": {"widths": (64, 128, 256, 512), "blocks": (1, 2, 2, 1)}}


def _conv_bn(cin: int, cout: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(c, c), _conv_bn(c, c, relu=False))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class EmotionNet(nn.Module):
    """``forward(x)`` takes ``(N, 1, H, W)`` floats in [0, 1] and returns class logits ``(N, 7)``.

    :meth:`features` returns the pooled embedding the intensity head reads; :meth:`intensity_logit`
    turns it into one number per face (``sigmoid`` of it is the 0..1 intensity).
    """

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = cfg = config or NetConfig()
        stages, cin = [], 1
        for c, nb in zip(cfg.widths, cfg.blocks):
            layers = [_conv_bn(cin, c)] + [_Residual(c) for _ in range(nb)] + [nn.MaxPool2d(2)]
            stages.append(nn.Sequential(*layers))
            cin = c
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cin, cfg.n_classes)
        #: intensity head: a linear score on the embedding, fitted on CK+ orderings (faceanim.emotion.intensity)
        self.intensity = nn.Linear(cin, 1)
        nn.init.zeros_(self.intensity.weight)
        nn.init.zeros_(self.intensity.bias)

    @property
    def feature_dim(self) -> int:
        return self.classifier.in_features

    @staticmethod
    def standardize(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-2)
        return (x - mean) / std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.standardize(x))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))

    @torch.no_grad()
    def fuse_for_inference(self) -> "EmotionNet":
        """Fold every BatchNorm into the convolution before it (eval only; same outputs, fewer ops)."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        self.eval()
        for module in self.modules():
            if isinstance(module, nn.Sequential) and len(module) >= 2 and isinstance(module[0], nn.Conv2d) \
                    and isinstance(module[1], nn.BatchNorm2d):
                module[0] = fuse_conv_bn_eval(module[0], module[1])
                module[1] = nn.Identity()
        return self

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, intensity_logit, features)`` in one pass (eval mode)."""
        f = self.features(x)
        return self.classifier(f), self.intensity(f).squeeze(1), f


@dataclass
class NetOutputs:
    """What :func:`predict_logits` returns: class logits ``(N, 7)``, intensity logits ``(N,)`` (``sigmoid``
    gives 0..1) and the embeddings ``(N, D)`` the intensity head reads; all fp32 on the CPU."""

    logits: torch.Tensor
    intensity: torch.Tensor
    features: torch.Tensor


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(N, H, W)`` uint8 gray faces as ``(N, 1, H, W)`` floats in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0).unsqueeze(1)


@torch.inference_mode()
def predict_logits(model: EmotionNet, images: np.ndarray, batch_size: int = 256, flip_tta: bool = True,
                   settings: Compute | None = None) -> NetOutputs:
    """Run ``model`` on ``(N, 48, 48)`` uint8 faces (averaged with the mirror image if ``flip_tta``).

    ``settings`` decides the precision (default: :func:`faceanim.runtime.compute`); the model is run on
    the device its parameters are on.
    """
    settings = settings or compute()
    device = next(model.parameters()).device
    model.eval()
    outs, ints, feats = [], [], []
    for s in range(0, len(images), batch_size):
        x = to_tensor(images[s:s + batch_size], device).contiguous(memory_format=settings.memory_format())
        if flip_tta:
            x = torch.cat([x, x.flip(3)])
        with settings.autocast():
            logits, inten, f = model.forward_all(x)
        logits, inten, f = logits.float(), inten.float(), f.float()
        if flip_tta:
            k = len(x) // 2
            logits, inten, f = (logits[:k] + logits[k:]) / 2, (inten[:k] + inten[k:]) / 2, (f[:k] + f[k:]) / 2
        outs.append(logits.cpu())
        ints.append(inten.cpu())
        feats.append(f.cpu())
    if not outs:
        return NetOutputs(torch.zeros((0, model.config.n_classes)), torch.zeros(0), torch.zeros((0, model.feature_dim)))
    return NetOutputs(torch.cat(outs), torch.cat(ints), torch.cat(feats))
