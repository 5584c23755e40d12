"""The LightningModule: a grid model + CTC loss, optimizer and schedule, decoding, CER/WER."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from menu.config import NEUTRAL
from menu.data.codec import Codec
from menu.decode import beam, beam_lm, best_path_score, greedy, greedy_path
from menu.evaluation import Evaluation
from menu.lm import CharNgram
from menu.models import build_model, ctc_min_length
from menu.registry import instantiate_option
from menu.resume import rng_state, set_rng_state


class LitRecognizer(pl.LightningModule):
    """Owns the recognizer built from ``cfg`` and the ``codec``; both are plain dicts so the
    checkpoint is self-contained and loads with ``weights_only=True``."""

    def __init__(self, cfg: dict, codec: dict, steps_per_epoch: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg: DictConfig = OmegaConf.create(cfg)
        self.codec = Codec.from_dict(codec)
        self.model = build_model(self.cfg, self.codec.num_classes)
        self.model.use_channels_last(bool(self.cfg.get("channels_last", False)))
        self.frozen = [self._freeze(str(g)) for g in self.cfg.get("freeze") or ()]
        self.ctc = nn.CTCLoss(blank=0, zero_infinity=bool(self.cfg.loss.zero_infinity))
        self.steps_per_epoch = steps_per_epoch
        self.skipped: dict[str, Counter] = {s: Counter() for s in ("train", "val", "test")}
        self.train_skipped_last_epoch: Counter = Counter()
        self.skipped_steps: Counter = Counter()  # optimizer steps skipped, by reason
        self._nonfinite_run = 0
        self.train_lines = 0
        self.train_seconds = 0.0
        self._t_last: float | None = None
        self.infer_lines = 0
        self.infer_seconds = 0.0
        self.evaluations: dict[str, Evaluation] = {}
        self.results: dict[str, Any] = {}
        # what the run did: [step, val_cer] per validation, the steps it was resumed at
        self.history: dict[str, list] = {"val": [], "resumed_at": []}
        # optim.schedule_clock=time: the budget's progress at a step (menu.budget.Budget)
        self.schedule_clock: Callable[[int], float] | None = None

    # --- decoding ------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.model(images, widths)

    def language_model(self) -> CharNgram:
        """``decode.lm`` loaded (once per path)."""
        path = str(self.cfg.decode.lm)
        if getattr(self, "_lm", (None, None))[0] != path:
            self._lm = (path, CharNgram.load(path))
        return self._lm[1]

    @torch.inference_mode()
    def recognize(self, images: torch.Tensor, widths: torch.Tensor) -> list[str]:
        """Images B x 1 x H x W (ink 1) with true widths -> decoded strings."""
        scores = self.model(images, widths)
        lengths = self.model.output_lengths(widths).clamp(max=scores.shape[2])
        width = int(self.cfg.decode.get("beam", 0) or 0)
        if self.cfg.decode.get("lm"):
            d = self.cfg.decode  # a checkpoint from before the language model: the defaults
            weight = d.get("lm_weight", NEUTRAL["decode.lm_weight"])
            bonus = d.get("lm_bonus", NEUTRAL["decode.lm_bonus"])
            lm, alphabet = self.language_model(), "".join(self.codec.chars)
            return beam_lm(scores, lengths, alphabet, lm, width or 10, weight, bonus)
        if width > 0:
            return beam(scores, lengths, "".join(self.codec.chars), width)
        return [self.codec.decode(ids) for ids in greedy(scores, lengths)]

    @torch.inference_mode()
    def path_scores(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """B: how sure the model is of each line's best path (:func:`best_path_score`)."""
        scores = self.model(images, widths)
        lengths = self.model.output_lengths(widths).clamp(max=scores.shape[2])
        return best_path_score(scores, lengths).cpu()

    @torch.inference_mode()
    def read(self, images: torch.Tensor, widths: torch.Tensor) -> list[dict[str, Any]]:
        """:meth:`recognize` with where and how sure (best path): per line its text, mean
        character confidence and each character's confidence and columns ``x0``..``x1``
        in the normalized image."""
        scores = self.model(images, widths)
        lengths = self.model.output_lengths(widths).clamp(max=scores.shape[2])
        out = []
        for path, n, w in zip(
            greedy_path(scores, lengths), lengths.tolist(), widths.tolist(), strict=True
        ):
            per_frame = w / max(n, 1)
            chars = [
                {
                    "char": self.codec.chars[e.cls - 1],
                    "x0": round(e.start * per_frame, 1),
                    "x1": round((e.end + 1) * per_frame, 1),
                    "confidence": round(e.confidence, 4),
                }
                for e in path
            ]
            confidence = sum(c["confidence"] for c in chars) / len(chars) if chars else None
            out.append(
                {
                    "text": "".join(c["char"] for c in chars),
                    "confidence": confidence,
                    "chars": chars,
                }
            )
        return out

    # --- training ------------------------------------------------------------------------

    def _count_skipped(self, split: str, skipped: dict[str, int] | None) -> None:
        if skipped:
            self.skipped[split].update({k: int(v) for k, v in skipped.items() if v})

    def _clock(self, running: bool) -> None:
        """Training wall time (data loading included, validation excluded)."""
        now = time.perf_counter()
        if self._t_last is not None:
            self.train_seconds += now - self._t_last
        self._t_last = now if running else None

    def on_train_epoch_start(self) -> None:
        self.skipped["train"] = Counter()
        self._clock(running=True)

    def _freeze(self, group: str) -> nn.Module:
        """Stop ``group``'s part of the model from training (``freeze: [conv]``)."""
        part = (
            getattr(self.model, group, None)
            if group in ("conv", "scale", "reduce", "seq")
            else None
        )
        if not isinstance(part, nn.Module):
            raise ValueError(
                f"freeze: {group!r} is not a part of the model (conv, scale, reduce, seq)"
            )
        part.requires_grad_(False)
        return part

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        for part in self.frozen:  # frozen parts keep their statistics (BatchNorm) too
            part.eval()
        # a resumed run draws the random numbers the uninterrupted run would have drawn:
        # restored here, after Lightning made the data iterator (which draws a seed)
        rng, self._resume_rng = getattr(self, "_resume_rng", None), None
        if rng is not None:
            set_rng_state(rng)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        self._count_skipped("train", batch.get("skipped"))
        if not batch["keys"]:  # a batch that only carries skip counts
            return None
        images, widths, frames, targets, skipped = trainable_lines(batch, self.codec, self.model)
        self.skipped["train"].update(skipped)
        if images is None:
            return None
        buffers = [b.detach().clone() for b in self.model.buffers()]  # BN statistics
        scores = self.model(images, widths)  # B x C x L
        loss = ctc_loss(self.ctc, scores, frames, targets)
        if not torch.isfinite(loss):  # skip the step: no backward, no update
            for saved, buffer in zip(buffers, self.model.buffers(), strict=True):
                buffer.copy_(saved)  # the forward pass moved the BN statistics: undo it
            self._skip_step("nonfinite_loss")
            return None
        self.train_lines += len(targets)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(targets))
        return loss

    def _skip_step(self, reason: str, patience: int = 20) -> None:
        """Count a step skipped for a non-finite loss or gradient; stop a diverged run (that
        many skips in a row) with a clear error instead of training on NaNs."""
        self.skipped_steps[reason] += 1
        self._nonfinite_run += 1
        if self._nonfinite_run >= patience:
            raise FloatingPointError(
                f"training diverged: {patience} steps in a row with a non-finite loss or "
                f"gradient (step {self.global_step}); lower optim.optimizer.lr or set "
                "optim.grad_clip"
            )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """A non-finite gradient: drop all gradients, so the optimizer changes nothing (with
        float16 mixed precision the gradient scaler does this itself; bfloat16 has none)."""
        if str(self.trainer.precision) == "16-mixed":
            return
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not grads:  # the step was skipped already (non-finite loss)
            return
        if not torch.isfinite(torch.stack([g.abs().sum() for g in grads]).sum()):
            for p in self.parameters():
                p.grad = None
            self._skip_step("nonfinite_grad")
        else:
            self._nonfinite_run = 0

    def on_train_epoch_end(self) -> None:
        self._clock(running=False)
        self.train_skipped_last_epoch = Counter(self.skipped["train"])

    # --- evaluation ----------------------------------------------------------------------

    def _eval_start(self, split: str) -> None:
        self.evaluations[split] = Evaluation(self.codec, keep_lines=split == "test")

    def _eval_step(self, split: str, batch: dict) -> None:
        hyps: list[str] = []
        if batch["keys"]:  # else a batch that only carries skip counts or failed lines
            t0 = time.perf_counter()
            hyps = self.recognize(batch["images"], batch["widths"])
            if split == "test":
                self.infer_seconds += time.perf_counter() - t0
                self.infer_lines += len(hyps)
        self.evaluations[split].add(batch, hyps)

    def _eval_end(self, split: str) -> None:
        evaluation = self.evaluations[split]
        self.skipped[split] = Counter(evaluation.skipped)
        r = evaluation.rates
        sums = torch.tensor(
            [r.char_errors, r.ref_chars, r.word_errors, r.ref_words, r.n], dtype=torch.float64
        )
        if self.trainer is not None and self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum").cpu()
        ce, rc, we, rw, n = sums.tolist()
        if n == 0:  # a score of nothing is no score: never CER 0.0 for an empty split
            raise ValueError(
                f"the {split} split has no labelled line to score "
                f"(skipped: {dict(self.skipped[split]) or 'none'})"
            )
        cer, wer = ce / max(1.0, rc), we / max(1.0, rw)
        self.log(f"{split}_cer", cer, prog_bar=True)
        self.log(f"{split}_wer", wer)
        self.results[split] = {
            "cer": cer,
            "wer": wer,
            "n": int(n),
            "failed": dict(r.failed),
            "unknown": evaluation.unknown.to_dict(),
        }
        if split == "val" and self.trainer is not None and not self.trainer.sanity_checking:
            self.history["val"].append([int(self.global_step), cer])

    def on_validation_epoch_start(self) -> None:
        if self._t_last is not None:
            self._clock(running=False)
            self._resume_clock = True
        self._eval_start("val")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")
        if getattr(self, "_resume_clock", False):
            self._resume_clock = False
            self._clock(running=True)

    def on_test_epoch_start(self) -> None:
        self._eval_start("test")
        self.infer_lines, self.infer_seconds = 0, 0.0

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # --- optimization --------------------------------------------------------------------

    def total_steps(self) -> int | None:
        """Steps of the whole budget, for the cosine schedule (None: unknown)."""
        budget = self.cfg.budget
        if budget.max_steps and budget.max_steps > 0:
            return int(budget.max_steps)
        if self.steps_per_epoch and budget.max_epochs and budget.max_epochs > 0:
            return int(self.steps_per_epoch * budget.max_epochs)
        return None

    def configure_optimizers(self) -> dict:
        optim = self.cfg.optim
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = instantiate_option("optim", optim.optimizer, params=params)
        warmup = int(optim.get("warmup_steps", 0) or 0)
        cosine = optim.get("schedule", "constant") == "cosine"
        total = self.total_steps() if cosine else None
        timed = cosine and optim.get("schedule_clock") == "time"
        if timed and self.schedule_clock is None:
            raise ValueError("optim.schedule_clock=time: the model has no budget clock to read")
        clock = self.schedule_clock if timed else None

        def factor(step: int) -> float:
            used = clock(step) if clock is not None else None  # read (and kept) every step
            if warmup and step < warmup:
                return (step + 1) / warmup
            if used is not None:
                progress = used
            elif total is None:
                return 1.0
            else:
                progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # --- checkpoint state beyond weights -------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point()
               and not torch.isfinite(v).all()]  # fmt: skip
        if bad:
            raise FloatingPointError(f"refusing to save non-finite weights ({bad[0]}, ...)")
        if self._t_last is not None:
            self._clock(running=True)
        checkpoint["menu_state"] = {
            "train_lines": self.train_lines,
            "train_seconds": self.train_seconds,
            "skipped": {k: dict(v) for k, v in self.skipped.items()},
            "train_skipped_last_epoch": dict(self.train_skipped_last_epoch),
            "history": self.history,
            "skipped_steps": dict(self.skipped_steps),
            "rng": rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("menu_state", {})
        self.train_lines = int(state.get("train_lines", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        for k, v in state.get("skipped", {}).items():
            self.skipped[k] = Counter(v)
        self.train_skipped_last_epoch = Counter(state.get("train_skipped_last_epoch", {}))
        history = state.get("history", {})
        self.history = {k: list(history.get(k, [])) for k in ("val", "resumed_at")}
        self.history["resumed_at"].append(int(checkpoint.get("global_step", 0)))
        self._resume_rng = state.get("rng")
        self.skipped_steps = Counter(state.get("skipped_steps", {}))


def ctc_loss(
    ctc: nn.CTCLoss, scores: torch.Tensor, frames: torch.Tensor, targets: list[list[int]]
) -> torch.Tensor:
    """CTC loss of BDL ``scores`` (B x classes x frames) against the label ids ``targets``,
    each line ``frames`` long (the loss of ``training_step`` and of the benchmark's bare loop)."""
    device = scores.device
    log_probs = scores.float().log_softmax(1).permute(2, 0, 1)  # L x B x C for CTC
    return ctc(
        log_probs,
        torch.tensor([i for t in targets for i in t], dtype=torch.long, device=device),
        frames.clamp(max=scores.shape[2]).to(device),
        torch.tensor([len(t) for t in targets], device=device),
    )


def trainable_lines(
    batch: dict, codec: Codec, model: nn.Module
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, list[list[int]], Counter[str]]:
    """The lines of ``batch`` CTC can train on: images (cropped to the widest kept line),
    widths, frames and label ids; the other lines counted by reason (``unknown_chars``,
    ``infeasible``: fewer frames than the label needs). Images are None when none is left."""
    widths = batch["widths"]
    frames = model.output_lengths(widths)
    keep, targets, skipped = [], [], Counter()
    for i, text in enumerate(batch["texts"]):
        if codec.unknown(text):
            skipped["unknown_chars"] += 1
            continue
        ids = codec.encode(text)
        if ctc_min_length(ids) > int(frames[i]):
            skipped["infeasible"] += 1
            continue
        keep.append(i)
        targets.append(ids)
    if not keep:
        return None, widths[:0], frames[:0], targets, skipped
    index = torch.tensor(keep, device=widths.device)
    widths, frames = widths[index], frames[index]
    images = batch["images"].index_select(0, index)[..., : int(widths.max())]
    return images, widths, frames, targets, skipped
