"""Observation encoder: a small CNN per camera (no torchvision) + proprioception + touch -> one embedding.

Each camera has its own CNN (4 strided 3x3 convs with GroupNorm, then a spatial softmax that returns
the expected image coordinates of 32 learned keypoints, as in robomimic/diffusion policy). Its
features for each of the `obs_steps` frames are concatenated with the normalized proprioception
(TCP xyz + gripper width) and touch features of those frames, then projected by an MLP to `emb_dim`.
The embedding conditions the denoiser and is what the failure monitor (FIPER RND) sees.
Images enter as uint8 ``[B, To, H, W, 3]`` and are scaled to [0, 1] inside the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class ObsEncoderConfig:
    """Sizes of the observation encoder."""

    cameras: tuple[str, ...] = ("external", "wrist")
    image_size: tuple[int, int] = (48, 64)  # (H, W)
    obs_steps: int = 2
    proprio_dim: int = 4
    touch_dim: int = 15
    cnn_channels: tuple[int, ...] = field(default=(16, 32, 32, 64))
    cnn_strides: tuple[int, ...] = field(default=(2, 2, 2, 2))  # 1s keep a finer map for the spatial softmax
    keypoints: int = 32
    emb_dim: int = 128


class SpatialSoftmax(nn.Module):
    """Feature map ``[B, C, H, W]`` -> expected (x, y) of `k` keypoints in [-1, 1], ``[B, 2k]``."""

    def __init__(self, channels: int, height: int, width: int, keypoints: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, keypoints, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1), persistent=False)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        att = torch.softmax(self.proj(feat).flatten(2), dim=-1)  # [B, k, HW]
        return (att @ self.grid).flatten(1)


class CameraCNN(nn.Module):
    """One camera's image ``[N, 3, H, W]`` float in [0, 1] -> keypoint features ``[N, 2k]``."""

    def __init__(self, cfg: ObsEncoderConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if len(cfg.cnn_strides) != len(cfg.cnn_channels) or any(s not in (1, 2) for s in cfg.cnn_strides):
            raise ValueError(f"cnn_strides must be 1 or 2, one per conv layer, got {cfg.cnn_strides}")
        cin, h, w = 3, cfg.image_size[0], cfg.image_size[1]
        for cout, stride in zip(cfg.cnn_channels, cfg.cnn_strides, strict=True):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(8, cout), nn.ReLU()]
            cin, h, w = cout, (h + stride - 1) // stride, (w + stride - 1) // stride
        self.convs = nn.Sequential(*layers)
        self.softmax = SpatialSoftmax(cin, h, w, cfg.keypoints)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.convs(img * 2.0 - 1.0))


class ObsEncoder(nn.Module):
    """Images per camera, proprio ``[B, To, P]`` and touch ``[B, To, d]`` (normalized) -> ``[B, emb_dim]``."""

    def __init__(self, cfg: ObsEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.cnns = nn.ModuleDict({cam: CameraCNN(cfg) for cam in cfg.cameras})
        feat = cfg.obs_steps * (len(cfg.cameras) * 2 * cfg.keypoints + cfg.proprio_dim + cfg.touch_dim)
        self.mlp = nn.Sequential(nn.Linear(feat, 256), nn.Mish(), nn.Linear(256, cfg.emb_dim))

    def forward(self, images: dict[str, torch.Tensor], proprio: torch.Tensor, touch: torch.Tensor) -> torch.Tensor:
        b, t = proprio.shape[:2]
        feats = []
        for cam in self.cfg.cameras:
            img = images[cam]  # [B, To, H, W, 3] uint8 or float in [0, 255]
            x = img.reshape(b * t, *img.shape[2:]).permute(0, 3, 1, 2).to(torch.float32) / 255.0
            feats.append(self.cnns[cam](x).reshape(b, t, -1))
        feats += [proprio, touch]
        return self.mlp(torch.cat(feats, dim=-1).flatten(1))
