"""The training engine shared by ``sisr train`` and the app's training wizard.

A :class:`TrainingRun` owns a run folder (``config.json``, ``checkpoint.pt``, ``best.safetensors``,
``final.safetensors``, ``log.csv``). It reports through one callback that receives
:class:`TrainingEvent` objects and never prints; ``cancel()`` and ``pause()`` may be called from
another thread. Checkpoints hold only tensors and plain values, so they load with
``torch.load(weights_only=True)``; a cancelled or killed run resumes where it stopped.

The rules both front ends need before a run live here too: :func:`training_schedule` (warm-up,
validation, preview and log intervals for a number of steps; ``TrainConfig`` fills what is not given
from it) and :func:`measure_step_seconds` (the trainer's own step, timed, for an estimate).

Runs train on ``config.device`` (``sisr_core.devices``: a CUDA GPU when there is one): on a GPU with
bf16 autocast where it has bf16, else fp16 with a gradient scaler, fed by DataLoader workers.
``torch.compile`` is not used: it is unmeasured on a GPU, and these small networks' steps are short.
"""
from __future__ import annotations

import csv
import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel

from sisr_core.atomic import atomic_file, write_bytes
from sisr_core.data.datasets import PatchStream, SRImageSet, find_images
from sisr_core.devices import data_workers, select_device
from sisr_core.inference.color import rgb_to_y
from sisr_core.inference.engine import resolve_precision
from sisr_core.models.loading import LoadedModel, load_model
from sisr_core.metrics import psnr
from sisr_core.models.registry import build_model, get_spec
from sisr_core.resize import imresize
from sisr_core.training.losses import PIXEL_LOSSES, PerceptualLoss, adversarial_loss, load_vgg19_state
from sisr_core.weights import count_parameters, read_weights, save_weights

CHECKPOINT = "checkpoint.pt"
BEST = "best.safetensors"
FINAL = "final.safetensors"


def training_schedule(steps: int) -> dict[str, int]:
    """Intervals that suit a run of ``steps``: learning-rate warm-up (100 steps, at most a tenth of the run),
    validation every twentieth of the run, a preview every fiftieth, a log line every hundredth (at most 10
    steps apart). For the default 10,000 steps: warm-up 100, validation every 500, log every 10."""
    return {"warmup": min(100, max(steps // 10, 1)), "val_every": max(steps // 20, 1),
            "preview_every": max(steps // 50, 1), "log_every": max(min(steps // 100, 10), 1)}


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run folder."""

    model: str
    scale: int
    data: list[str]  # HR folders; a folder holding DIV2K_train_HR is read in the DIV2K layout
    lr_data: list[str] = field(default_factory=list)  # LR folders paired with the first data folders
    val: list[str] = field(default_factory=list)
    val_holdout: int = 0  # hold out this many training images for validation when no --val
    degradation: str = "bicubic"
    steps: int = 10000
    batch: int = 16
    patch: int = 48  # LR patch side in pixels
    lr: float = 2e-4
    min_lr_ratio: float = 0.01  # cosine schedule ends at lr * min_lr_ratio
    warmup: int | None = None  # None: from training_schedule(steps), as val_every and log_every
    loss: str = "l1"
    grad_clip: float = 0.0
    ema: float = 0.999  # 0 disables the moving average of the weights
    model_config: dict = field(default_factory=dict)
    scales: list[int] = field(default_factory=list)  # multi-scale training (pre-upsampling nets, fdsrcnn)
    init: str | None = None  # weights to start from (matching tensors are copied)
    teacher: str | None = None  # model name or weight file, for distillation
    distill_weight: float = 1.0
    perceptual_weight: float = 0.0
    adversarial_weight: float = 0.0
    vgg_weights: str | None = None
    allow_download: bool = False
    val_every: int | None = None
    checkpoint_minutes: float = 5.0
    log_every: int | None = None
    preview_every: int = 0  # 0: no preview events (the wizard shows them: training_schedule has its interval)
    seed: int = 0
    num_workers: int | None = None  # DataLoader workers; None: sisr_core.devices.data_workers for the device
    device: str = "auto"  # auto: a CUDA GPU, then Apple MPS, then the CPU
    precision: str = "auto"  # bf16 or fp16 mixed precision (fp32 master weights), or fp32; auto: by the device
    minutes: float = 0.0  # a time budget: steps are refitted to the speed seen, and the run ends by then
    command: str = ""  # the command line that started the run, for the weights' metadata

    def __post_init__(self) -> None:
        schedule = training_schedule(self.steps)
        for name in ("warmup", "val_every", "log_every"):
            if getattr(self, name) is None:
                setattr(self, name, schedule[name])

    def train_scales(self) -> list[int]:
        return self.scales or [self.scale]


@dataclass
class TrainingEvent:
    """What the engine reports: ``kind`` is progress, validation, preview, checkpoint, paused, done."""

    kind: str
    step: int
    total: int
    losses: dict = field(default_factory=dict)
    psnr: float | None = None
    eta_seconds: float | None = None
    images: dict = field(default_factory=dict)  # preview: "lr", "bicubic", "sr", "hr" tensors (3, H, W)
    path: str | None = None
    message: str = ""


def ema_average(decay: float) -> Callable:
    """EMA update whose decay ramps up as (1 + n) / (10 + n), so early random weights fade quickly."""

    def average(ema_param: torch.Tensor, param: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        d = min(decay, float((1 + num_averaged) / (10 + num_averaged)))
        return ema_param * d + param * (1 - d)

    return average


@dataclass
class TrainState:
    """What the training loop carries from step to step; a checkpoint saves and restores its weights."""

    net: nn.Module
    model: nn.Module  # what the batches go through: ``net``, or its DistributedDataParallel wrapper
    optim: torch.optim.Optimizer
    ema: AveragedModel | None
    disc: nn.Module | None
    optim_d: torch.optim.Optimizer | None
    perceptual: PerceptualLoss | None
    teacher: LoadedModel | None
    batches: Iterator
    val_pairs: list  # (LR, HR) validation images, degraded once
    started: float  # time.time() when this session of the run began
    last_checkpoint: float
    seconds_before: float  # training seconds before a resume
    start_step: int
    refits: int = 0  # tenths of a time budget passed in this session (see TrainingRun._fit_to_budget)
    last_fit: tuple[float, int] | None = None  # (time.time(), step) at the latest tenth

    @property
    def eval_net(self) -> nn.Module:
        """The weights to validate and publish: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.net

    def seconds(self) -> float:
        """Training seconds so far, resumed sessions included."""
        return self.seconds_before + time.time() - self.started


class TrainingRun:
    """One training run in ``out_dir``; create it new, or :meth:`resume` an existing folder."""

    def __init__(self, config: TrainConfig, out_dir: str | os.PathLike, callback: Callable[[TrainingEvent], None] | None = None):
        self.config = config
        self.out = Path(out_dir)
        self.callback = callback or (lambda event: None)
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.step = 0
        self.best_psnr = -math.inf
        self.spec = get_spec(config.model)
        if not self.spec.pre_upsample and config.scale not in self.spec.scales:
            raise ValueError(f"model {config.model!r} has no x{config.scale} variant")
        if config.minutes and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("a time budget (--minutes) is for one process: under torchrun each would fit its own steps")
        self.device = select_device(config.device)
        precision = resolve_precision(config.precision, self.device)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")  # fp16 gradients underflow
        if config.scales and not self.spec.pre_upsample:
            joint = set(self.spec.joint_scales)
            if not joint or not set(config.scales) <= joint or config.scale != max(config.scales):
                together = f"x{' and x'.join(map(str, sorted(joint)))} with --scale {max(joint)}" if joint else "one scale"
                raise ValueError(f"model {config.model!r} trains {together}, not --scales {' '.join(map(str, config.scales))}")

    # -- control from another thread -------------------------------------------------------------
    def cancel(self) -> None:
        """Stop at the next step; a checkpoint is written so the run can be resumed."""
        self._cancel.set()
        self._running.set()

    def pause(self) -> None:
        """Hold before the next step until :meth:`unpause` or :meth:`cancel`."""
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    @classmethod
    def resume(cls, out_dir: str | os.PathLike, callback=None, **overrides) -> "TrainingRun":
        """Continue the run saved in ``out_dir``; ``overrides`` may change e.g. ``steps``."""
        out = Path(out_dir)
        if not (out / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{out}: no {CHECKPOINT} to resume from")
        config = TrainConfig(**{**json.loads((out / "config.json").read_text()), **overrides})
        run = cls(config, out, callback)
        run._load_checkpoint()  # so that .step tells where it continues before run() starts
        return run

    # -- set-up ----------------------------------------------------------------------------------
    def _distributed(self) -> tuple[int, int]:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
            dist.init_process_group("gloo")
        if dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _data(self, rank: int) -> tuple[PatchStream, list]:
        cfg = self.config
        fixed, files = [], []  # sets whose LR images are given, and HR files to degrade
        for i, folder in enumerate(cfg.data):
            if i < len(cfg.lr_data):
                fixed.append(SRImageSet.from_paired(folder, cfg.lr_data[i], cfg.scale))
            elif (Path(folder) / "DIV2K_train_HR").is_dir():
                fixed.append(SRImageSet.from_div2k(folder, cfg.scale))
            else:
                files += find_images(folder)
        val_files: list = [f for d in cfg.val for f in find_images(d)]
        if not val_files and cfg.val_holdout:
            order = np.random.default_rng(cfg.seed).permutation(len(files))
            held = set(order[: cfg.val_holdout].tolist())
            val_files = [f for i, f in enumerate(files) if i in held]
            files = [f for i, f in enumerate(files) if i not in held]
        train = SRImageSet.from_folders([], cfg.degradation, files=files)
        for other in fixed:
            train.pairs += other.pairs
            train.names += other.names
        stream = PatchStream(train, cfg.train_scales(), cfg.patch, cfg.batch, cfg.seed, rank, start=self.step)
        val = SRImageSet.from_folders([], cfg.degradation, files=val_files).validation_pairs(cfg.scale, cfg.seed) if val_files else []
        return stream, val

    def _network(self) -> nn.Module:
        cfg = self.config
        net = build_model(cfg.model, cfg.scale, **cfg.model_config)
        if cfg.init and self.step == 0:
            state, _ = read_weights(cfg.init)
            own = net.state_dict()
            fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
            net.load_state_dict(fitting, strict=False)
            self.callback(TrainingEvent("message", 0, cfg.steps, message=f"initialised {len(fitting)}/{len(own)} tensors from {cfg.init}"))
        return net

    def _lr_at(self, step: int) -> float:
        cfg = self.config
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        t = min((step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1), 1.0)
        return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    def _as_loaded(self, net: nn.Module, scale: int) -> LoadedModel:
        cfg = self.spec.config(**self.config.model_config)
        return LoadedModel(self.config.model, self.spec, net, scale, {"config": cfg})

    def _to_net_space(self, lr: torch.Tensor, hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input and target for a batch: Y or RGB, bicubic-upsampled for pre-upsampling nets."""
        if self.spec.config(**self.config.model_config).get("num_in_ch", 3) == 1:
            lr, hr = rgb_to_y(lr), rgb_to_y(hr)
        if self.spec.pre_upsample:
            lr = imresize(lr, scale)
        return lr, hr

    def _setup(self, rank: int, world: int) -> TrainState:
        """Build the networks, optimisers and data, and load the checkpoint into them when there is one."""
        cfg = self.config
        torch.manual_seed(cfg.seed + rank)
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt = self._load_checkpoint()
        net, optim, ema, disc, optim_d, perceptual, teacher = self._parts()
        if ckpt:
            net.load_state_dict(ckpt["params"])
            optim.load_state_dict(ckpt["optimizer"])
            if ema is not None and "params_ema" in ckpt:
                ema.module.load_state_dict(ckpt["params_ema"])
                ema.n_averaged.fill_(ckpt.get("ema_n", 1))
            if disc is not None and "disc" in ckpt:
                disc.load_state_dict(ckpt["disc"])
                optim_d.load_state_dict(ckpt["optimizer_d"])
        if rank == 0:
            write_bytes(self.out / "config.json", json.dumps(asdict(cfg), indent=2))
        model = nn.parallel.DistributedDataParallel(net) if world > 1 else net
        stream, val_pairs = self._data(rank)
        workers = data_workers(self.device) if cfg.num_workers is None else cfg.num_workers
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers,
                                             pin_memory=self.device.type == "cuda")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the patch size is fixed: cuDNN may pick its fastest kernels
        net.train()
        now = time.time()
        return TrainState(net, model, optim, ema, disc, optim_d, perceptual, teacher, iter(loader), val_pairs,
                          started=now, last_checkpoint=now, seconds_before=ckpt.get("seconds", 0.0) if ckpt else 0.0,
                          start_step=self.step)

    def _parts(self) -> tuple:
        """The network on the device (channels-last: oneDNN convs train ~30% faster on CPUs, and GPUs' tensor
        cores take it), its optimiser and moving average, the GAN parts and the teacher: what a step needs,
        before any checkpoint is loaded."""
        cfg = self.config
        net = self._network().to(self.device, memory_format=torch.channels_last)
        optim = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        ema = AveragedModel(net, avg_fn=ema_average(cfg.ema), use_buffers=True) if cfg.ema else None
        return (net, optim, ema, *self._gan_parts(), self._teacher())

    # -- the loop --------------------------------------------------------------------------------
    def train_step(self, state: TrainState, lr_batch: torch.Tensor, hr_batch: torch.Tensor, scale: int) -> dict[str, float]:
        """One optimisation step of the network (and the discriminator, the EMA); returns the losses."""
        cfg = self.config
        pixel_loss = PIXEL_LOSSES[cfg.loss]
        lr_batch, hr_batch = (b.to(self.device, non_blocking=True) for b in (lr_batch, hr_batch))
        inp, target = self._to_net_space(lr_batch, hr_batch, scale)
        inp = inp.contiguous(memory_format=torch.channels_last)
        for group in state.optim.param_groups:
            group["lr"] = self._lr_at(self.step)
        with self._autocast():  # bf16/fp16 convolutions, fp32 weights and losses
            sr = (state.model(inp, scale=scale) if self.spec.joint_scales else state.model(inp)).float()
            losses = {"pixel": pixel_loss(sr, target)}
            if state.teacher is not None:
                with torch.no_grad():
                    t_out = state.teacher.forward_rgb(lr_batch, scale).float()
                    t_out = rgb_to_y(t_out) if target.shape[1] == 1 else t_out
                losses["distill"] = cfg.distill_weight * pixel_loss(sr, t_out)
            if state.perceptual is not None:
                losses["perceptual"] = cfg.perceptual_weight * state.perceptual(sr, target)
            if state.disc is not None:
                losses["adversarial"] = cfg.adversarial_weight * adversarial_loss(state.disc(sr).float(), True)
        state.optim.zero_grad(set_to_none=True)
        self.scaler.scale(sum(losses.values())).backward()
        if cfg.grad_clip:
            self.scaler.unscale_(state.optim)
            nn.utils.clip_grad_norm_(state.net.parameters(), cfg.grad_clip)
        self.scaler.step(state.optim)
        if state.disc is not None:
            with self._autocast():
                d_loss = (adversarial_loss(state.disc(target).float(), True)
                          + adversarial_loss(state.disc(sr.detach()).float(), False))
            state.optim_d.zero_grad(set_to_none=True)
            self.scaler.scale(d_loss).backward()
            self.scaler.step(state.optim_d)
            losses["discriminator"] = d_loss
        self.scaler.update()
        if state.ema is not None:
            state.ema.update_parameters(state.net)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    def _validate_due(self, state: TrainState, seconds: float) -> float | None:
        """PSNR at validation steps (None between them); a better one is saved as ``best.safetensors``."""
        cfg = self.config
        if not state.val_pairs or not (self.step % cfg.val_every == 0 or self.step == cfg.steps):
            return None
        psnr_now = self.validate(state.eval_net, state.val_pairs)
        self.callback(TrainingEvent("validation", self.step, cfg.steps, psnr=psnr_now))
        if psnr_now > self.best_psnr:
            self.best_psnr = psnr_now
            self._save_weights(state, self.out / BEST, seconds)
        return psnr_now

    def run(self) -> Path | None:
        """Train until ``config.steps`` or cancel; returns the final weights (None if cancelled).

        Under ``torchrun`` every process trains on its own patches, gradients are averaged by
        DistributedDataParallel (gloo on CPU), and only rank 0 validates and writes files."""
        cfg = self.config
        rank, world = self._distributed()
        main = rank == 0
        state = self._setup(rank, world)
        log = self._open_log() if main else None
        try:
            while self.step < cfg.steps:
                if not self._running.is_set():
                    self.callback(TrainingEvent("paused", self.step, cfg.steps))
                    self._running.wait()
                if self._cancel.is_set():
                    break
                lr_batch, hr_batch, scale = next(state.batches)
                losses = self.train_step(state, lr_batch, hr_batch, int(scale))
                if not main:
                    continue
                if cfg.minutes:  # before validating: the run's last step is validated and logged
                    self._fit_to_budget(state)
                elapsed = time.time() - state.started
                seconds = state.seconds_before + elapsed
                eta = elapsed / (self.step - state.start_step) * (cfg.steps - self.step)
                self.callback(TrainingEvent("progress", self.step, cfg.steps, losses=losses, eta_seconds=eta))
                psnr_now = self._validate_due(state, seconds)
                if cfg.preview_every and state.val_pairs and self.step % cfg.preview_every == 0:
                    self.callback(TrainingEvent("preview", self.step, cfg.steps, images=self.preview(state.eval_net, state.val_pairs[0])))
                if self.step % cfg.log_every == 0 or psnr_now is not None:
                    total = sum(v for k, v in losses.items() if k != "discriminator")  # what the network minimises
                    log.writerow([self.step, f"{losses['pixel']:.6f}", f"{total:.6f}", f"{self._lr_at(self.step):.3e}",
                                  "" if psnr_now is None else f"{psnr_now:.4f}", f"{seconds:.1f}"])
                    self._log_file.flush()
                if time.time() - state.last_checkpoint > cfg.checkpoint_minutes * 60:
                    self._save_checkpoint(state, seconds)
                    state.last_checkpoint = time.time()
        finally:
            if main:
                self._save_checkpoint(state, state.seconds())
                if log is not None:
                    self._log_file.close()
        if world > 1:
            dist.barrier()
            dist.destroy_process_group()
        if self._cancel.is_set():
            return None
        final = self.out / FINAL
        if main:
            self._save_weights(state, final, state.seconds())
            self.callback(TrainingEvent("done", self.step, cfg.steps, psnr=self.best_psnr if state.val_pairs else None, path=str(final)))
        return final

    def _fit_to_budget(self, state: TrainState) -> None:
        """With ``minutes``: at every tenth of the budget from the second on, fit the total steps to the
        speed of the last tenth (data loading, validation and a shared GPU included; the first tenth, which
        starts workers and fills caches, is not used), so the learning-rate schedule ends on time; past
        the budget, end the run at this step."""
        cfg = self.config
        budget, spent = cfg.minutes * 60, state.seconds()
        if spent >= budget:
            cfg.steps = self.step
        elif state.refits < 9 and spent >= budget * 0.1 * (state.refits + 1):
            if state.last_fit is not None:
                since, step_then = state.last_fit
                per_step = (time.time() - since) / max(self.step - step_then, 1)
                cfg.steps = max(self.step + int((budget - spent) / per_step), self.step + 1)
            state.refits, state.last_fit = state.refits + 1, (time.time(), self.step)

    # -- pieces ----------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None)

    @torch.no_grad()
    def validate(self, net: nn.Module, pairs: list) -> float:
        """Mean Y-PSNR (benchmark protocol) of ``net`` on whole validation images."""
        was_training = net.training
        net.eval()
        loaded = self._as_loaded(net, self.config.scale)
        values = []
        for lr, hr in pairs:
            sr = loaded.forward_rgb(lr[None].to(self.device), self.config.scale).clamp(0, 1).cpu()
            values.append(psnr(sr, hr[None], crop_border=self.config.scale))
        net.train(was_training)
        return float(np.mean(values))

    @torch.no_grad()
    def preview(self, net: nn.Module, pair: tuple, size: int = 64) -> dict:
        """A crop of one validation image: LR, bicubic, current SR and HR, each (3, H, W) in [0, 1]."""
        lr, hr = pair
        s = self.config.scale
        h, w = lr.shape[1:]
        y, x = max((h - size) // 2, 0), max((w - size) // 2, 0)
        lr_crop = lr[:, y : y + size, x : x + size]
        was_training = net.training
        net.eval()
        sr = self._as_loaded(net, s).forward_rgb(lr_crop[None].to(self.device), s)[0].clamp(0, 1).cpu()
        net.train(was_training)
        return {"lr": lr_crop, "bicubic": imresize(lr_crop, s).clamp(0, 1), "sr": sr,
                "hr": hr[:, y * s : (y + size) * s, x * s : (x + size) * s]}

    def _gan_parts(self):
        cfg = self.config
        perceptual = None
        if cfg.perceptual_weight:
            perceptual = PerceptualLoss(load_vgg19_state(cfg.vgg_weights, cfg.allow_download)).to(self.device)
        if not cfg.adversarial_weight:
            return None, None, perceptual
        from sisr_core.models.srresnet import build_discriminator

        channels = self.spec.config(**cfg.model_config).get("num_out_ch", 3)
        disc = build_discriminator(num_in_ch=channels).to(self.device)
        return disc, torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.9, 0.99)), perceptual

    def _teacher(self) -> LoadedModel | None:
        t = self.config.teacher
        if not t:
            return None
        if Path(t).is_file():
            return load_model(None, self.config.scale, t, self.device)
        return load_model(t, self.config.scale, device=self.device)

    def _load_checkpoint(self) -> dict | None:
        path = self.out / CHECKPOINT
        if not path.is_file():
            return None
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        self.step = int(ckpt["step"])
        self.best_psnr = float(ckpt.get("best_psnr", -math.inf))
        return ckpt

    def _save_checkpoint(self, state: TrainState, seconds: float) -> None:
        ckpt = {"params": state.net.state_dict(), "optimizer": state.optim.state_dict(), "step": self.step,
                "best_psnr": self.best_psnr, "seconds": seconds}
        if state.ema is not None:
            ckpt["params_ema"] = state.ema.module.state_dict()
            ckpt["ema_n"] = int(state.ema.n_averaged)
        if state.disc is not None:
            ckpt["disc"], ckpt["optimizer_d"] = state.disc.state_dict(), state.optim_d.state_dict()
        with atomic_file(self.out / CHECKPOINT) as f:
            torch.save(ckpt, f)
        self.callback(TrainingEvent("checkpoint", self.step, self.config.steps, path=str(self.out / CHECKPOINT)))

    def _save_weights(self, state: TrainState, path: Path, seconds: float) -> Path:
        """The network to publish (the moving average when there is one) with its metadata."""
        cfg = self.config
        net = state.eval_net
        model_cfg = self.spec.config(**cfg.model_config)
        meta = {
            "model": cfg.model,
            "config": model_cfg,
            "scales": sorted(set(cfg.train_scales())) if self.spec.multi_scale or self.spec.joint_scales else [cfg.scale],
            "color": "y" if model_cfg.get("num_in_ch", 3) == 1 else "rgb",
            "value_range": [0, 1],
            "params": count_parameters(net),
            "source": "SISR Studio",
            "training": {
                "command": cfg.command,
                "steps": self.step,
                "seconds": round(seconds, 1),
                "data": cfg.data,
                "degradation": cfg.degradation,
                "loss": cfg.loss,
                "batch": cfg.batch,
                "patch": cfg.patch,
                "validation_psnr": None if self.best_psnr == -math.inf else round(self.best_psnr, 4),
            },
        }
        return save_weights(path, net.state_dict(), meta)

    def _open_log(self):
        path = self.out / "log.csv"
        new = not path.exists()
        self._log_file = open(path, "a", newline="")
        writer = csv.writer(self._log_file)
        if new:
            writer.writerow(["step", "pixel_loss", "total_loss", "lr", "val_psnr", "seconds"])
        return writer


def measure_step_seconds(config: TrainConfig, repeats: int = 2) -> float:
    """Seconds one training step of ``config`` takes on this computer and its device: the trainer's own
    ``train_step`` (its precision, losses, moving average, teacher) on random patches of the batch and patch size, best of
    ``repeats`` after a warm-up step. Reading and degrading patches and validation are not included; no
    file is read but ``init``/``teacher`` weights, none is written."""
    run = TrainingRun(config, Path(os.devnull))
    torch.manual_seed(config.seed)
    net, optim, ema, disc, optim_d, perceptual, teacher = run._parts()
    net.train()
    now = time.time()
    state = TrainState(net, net, optim, ema, disc, optim_d, perceptual, teacher, iter(()), [], now, now, 0.0, 0)
    scale, patch = config.scale, config.patch
    lr_batch, hr_batch = torch.rand(config.batch, 3, patch, patch), torch.rand(config.batch, 3, patch * scale, patch * scale)
    seconds = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        run.train_step(state, lr_batch, hr_batch, scale)
        seconds.append(time.perf_counter() - started)
    return min(seconds[1:])


def steps_for_minutes(config: TrainConfig, minutes: float) -> int:
    """Steps of ``config`` that fill ``minutes`` at the speed :func:`measure_step_seconds` gives; a run with
    ``minutes`` set refits them to the speed it sees (see ``TrainingRun._fit_to_budget``)."""
    return max(1, int(minutes * 60 / measure_step_seconds(config)))
