"""The emotion network: a small residual CNN for 48x48 gray faces, with an intensity head.

It is sized for the CPU: about 2M parameters, well over 1,000 aligned faces a second in bf16 batches
on 2 cores (``bench/bench_emotion.py`` measures it). Every input is standardised per image inside the
network, so a darker or brighter photo reaches the convolutions unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

__all__ = ["NetConfig", "EmotionNet"]


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
        for i, (c, nb) in enumerate(zip(cfg.widths, cfg.blocks)):
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
