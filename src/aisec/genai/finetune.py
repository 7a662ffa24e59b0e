"""LoRA fine-tuning of a causal language model on instructions, sized for a CPU.

:class:`LoraTuner` wraps a Hugging Face Llama-style model (SmolLM2) with LoRA adapters
(``peft``) on every linear layer of its top ``top_layers`` decoder layers, and trains them with
the loss on the answer tokens only. Two observations make this cheap on a CPU:

* The lower layers are frozen and carry no adapter, so their output for a sequence never
  changes: it is computed once (:meth:`LoraTuner.lower_states`) and every epoch, every
  fine-tune of the same data (clean, poisoned, cleaned) and every evaluation runs only the top
  layers on it.
* The output layer (a 49,152-word vocabulary on SmolLM2) is applied only where a loss or a
  check needs it: at the answer tokens.

Greedy decoding is exact through teacher forcing: the model greedily emits an answer (and
stops) exactly when the argmax at every answer position is the answer's next token, which
:meth:`LoraTuner.answer_matches` checks in one forward pass. Free generation
(:meth:`LoraTuner.generate`) runs the whole model with its adapter.

Fine-tuning is seeded and checkpointed after every epoch (adapter and optimizer in one sealed
safetensors file, :func:`aisec.models.checkpoint.save_checkpoint`); a run with the same
configuration on the same data resumes after the last finished epoch.

Reference: E. J. Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from aisec.data.instructions import Instruction
from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    save_checkpoint,
)
from aisec.models.language import LanguageModel
from aisec.models.training import _optimizer_tensors, _restore_optimizer
from aisec.models.training import _progress_bar as progress_bar

__all__ = ["FineTuneResult", "LoraConfig", "LoraTuner"]

_LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_STATE_BATCH = 32


@dataclass(frozen=True)
class LoraConfig:
    """Hyperparameters of a LoRA fine-tune.

    Attributes:
        rank: LoRA rank ``r``.
        alpha: LoRA scaling numerator (the update is ``alpha / r · B A``).
        top_layers: decoder layers, counted from the top, that get adapters on all their
            linear layers; the layers below are frozen and their states cached.
        epochs: passes over the data.
        batch_size: examples per AdamW step.
        lr: peak learning rate (linear warm-up over the first 10% of steps, then linear decay).
        max_tokens: longest sequence (prompt and answer, in tokens); longer prompts are cut
            from the left of the user's message, never in the answer.
        seed: seeds the adapters' initialisation and the batch order.
    """

    rank: int = 8
    alpha: int = 16
    top_layers: int = 4
    epochs: int = 3
    batch_size: int = 8
    lr: float = 2e-3
    max_tokens: int = 96
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "alpha", "top_layers", "epochs", "batch_size", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or self.lr <= 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")


@dataclass(frozen=True)
class FineTuneResult:
    """What a fine-tune did: epochs run, where it resumed, its time and its loss per epoch."""

    epochs_run: int
    resumed_from_epoch: int
    seconds: float
    losses: tuple[float, ...]


@dataclass(frozen=True)
class _Encoded:
    ids: Tensor  # (L,) prompt and answer
    answer_start: int  # index of the answer's first token in ids


class LoraTuner:
    """A causal LM with LoRA adapters on its top layers; trains, checks and generates.

    The tuner takes over ``lm.model`` (adapters are inserted in place): load a model for it
    alone. :meth:`reset` gives a fresh adapter (the base model's behaviour), and
    :meth:`adapter_state`/:meth:`load_adapter` move trained adapters in and out.

    Args:
        lm: the language model (a Llama-style ``transformers`` causal LM: ``model.model.layers``).
        config: the fine-tuning hyperparameters.
    """

    def __init__(self, lm: LanguageModel, config: LoraConfig | None = None) -> None:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model

        self.lm = lm
        self.config = config or LoraConfig()
        base = lm.model
        decoder = getattr(getattr(base, "model", None), "layers", None)
        if decoder is None:
            raise TypeError(
                f"{lm.name}: LoRA top-layer tuning needs a Llama-style model with "
                "model.model.layers; got " + type(base).__name__
            )
        depth = len(decoder)
        if self.config.top_layers > depth:
            raise ValueError(f"top_layers must be <= {depth} (the model's layers)")
        self.split = depth - self.config.top_layers
        peft_config = PeftLoraConfig(
            r=self.config.rank,
            lora_alpha=self.config.alpha,
            lora_dropout=0.0,
            target_modules=list(_LINEAR_LAYERS),
            layers_to_transform=list(range(self.split, depth)),
        )
        with torch.random.fork_rng(devices=[]):  # peft draws A from the global generator
            torch.manual_seed(self.config.seed)
            self.model = get_peft_model(base, peft_config)
        self._initial = self.adapter_state()
        self._decoder = base.model
        self._head = base.lm_head
        self._states: dict[bytes, Tensor] = {}
        self._end = _end_of_turn(lm)
        self.model.eval()

    # ----------------------------------------------------------------- adapters
    def adapter_state(self) -> dict[str, Tensor]:
        """A copy of the adapter's weights, by parameter name."""
        return {
            name: p.detach().clone() for name, p in self.model.named_parameters() if p.requires_grad
        }

    def load_adapter(self, state: dict[str, Tensor]) -> None:
        """Load weights from :meth:`adapter_state` (strictly: the same names and shapes)."""
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        if set(params) != set(state):
            raise ValueError("the adapter state does not match this tuner's adapters")
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(state[name])

    def reset(self) -> None:
        """Back to the freshly initialised adapter (``B = 0``: the base model's outputs)."""
        self.load_adapter(self._initial)

    # ----------------------------------------------------------------- encoding
    def encode(self, example: Instruction) -> _Encoded:
        """Token ids of the templated prompt followed by the answer and the end-of-turn token."""
        prompt = self.prompt_ids(example.prompt)
        answer = torch.cat(
            [self.lm.encode(example.answer), torch.tensor(self._end, dtype=torch.long)]
        )
        room = self.config.max_tokens - answer.numel()
        if room < 8:
            raise ValueError(
                f"answer of {answer.numel()} tokens leaves no room for the prompt within "
                f"max_tokens={self.config.max_tokens}"
            )
        if prompt.numel() > room:
            prompt = prompt[-room:]
        return _Encoded(torch.cat([prompt, answer]), int(prompt.numel()))

    def prompt_ids(self, prompt: str) -> Tensor:
        """Token ids ``(P,)`` of ``prompt`` as a user turn after an empty system turn.

        An empty system turn keeps chat templates (SmolLM2's) from inserting their default
        system prompt, which would double the length of every short example.
        """
        tokenizer = self.lm.tokenizer
        if not getattr(tokenizer, "chat_template", None):
            return self.lm.encode(prompt)
        messages = [{"role": "system", "content": ""}, {"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.lm.encode(str(text))

    # ----------------------------------------------------------------- forward passes
    def lower_states(self, encoded: Sequence[_Encoded]) -> list[Tensor]:
        """The frozen lower layers' output ``(L_i, D)`` for each sequence (computed once)."""
        missing = {key: item.ids for item in encoded if (key := _key(item.ids)) not in self._states}
        items = sorted(missing.items(), key=lambda item: item[1].numel())  # less padding
        with torch.no_grad():
            for start in range(0, len(items), _STATE_BATCH):
                chunk = items[start : start + _STATE_BATCH]
                ids, lengths = _pad([i for _, i in chunk])
                hidden = self._decoder.embed_tokens(ids)
                hidden = self._layers(hidden, 0, self.split)
                for (key, _), length, row in zip(chunk, lengths, hidden, strict=True):
                    self._states[key] = row[:length].clone()
        return [self._states[_key(item.ids)] for item in encoded]

    def _layers(self, hidden: Tensor, first: int, last: int) -> Tensor:
        """Decoder layers ``first..last-1`` on right-padded ``(B, L, D)`` states."""
        length = hidden.shape[1]
        positions = torch.arange(length).unsqueeze(0).expand(hidden.shape[0], -1)
        rotary = self._decoder.rotary_emb(hidden, positions)
        mask = torch.full((length, length), float("-inf"), dtype=hidden.dtype).triu(1)
        mask = mask[None, None]
        for layer in self._decoder.layers[first:last]:
            out = layer(
                hidden, attention_mask=mask, position_ids=positions, position_embeddings=rotary
            )
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def _top(self, encoded: Sequence[_Encoded]) -> Tensor:
        """Final normalised states ``(B, L, D)`` of a batch, from the cached lower states."""
        batch = pad_sequence(self.lower_states(encoded), batch_first=True)
        hidden = self._layers(batch, self.split, self.split + self.config.top_layers)
        normalised: Tensor = self._decoder.norm(hidden)
        return normalised

    def _answer_logits(self, encoded: Sequence[_Encoded]) -> tuple[Tensor, Tensor]:
        """Logits at the positions that predict answer tokens, and those tokens (flattened)."""
        hidden = self._top(encoded)
        rows, cols, targets = [], [], []
        for row, item in enumerate(encoded):
            span = torch.arange(item.answer_start - 1, item.ids.numel() - 1)
            rows.append(torch.full_like(span, row))
            cols.append(span)
            targets.append(item.ids[item.answer_start :])
        picked = hidden[torch.cat(rows), torch.cat(cols)]
        return self._head(picked), torch.cat(targets)

    # ----------------------------------------------------------------- training
    def fine_tune(
        self,
        examples: Sequence[Instruction],
        *,
        start: dict[str, Tensor] | None = None,
        epochs: int | None = None,
        checkpoint_dir: str | Path | None = None,
        progress: bool = False,
        description: str = "fine-tuning",
    ) -> FineTuneResult:
        """Train an adapter on ``examples`` (loss on the answer tokens only).

        Args:
            examples: the fine-tuning set.
            start: the adapter to start from (:meth:`adapter_state`, e.g. to keep fine-tuning
                a poisoned model on clean data); ``None``: a fresh adapter.
            epochs: passes over ``examples`` (default the configuration's).
            checkpoint_dir: where the per-epoch checkpoint ``last`` lives; a checkpoint of the
                same configuration and data resumes after its epoch, a corrupted one is
                reported and training restarts.
            progress: show a progress bar.
            description: the progress bar's label.

        Returns:
            A :class:`FineTuneResult`; the tuner holds the trained adapter.
        """
        if not examples:
            raise ValueError("examples must not be empty")
        config = self.config if epochs is None else dataclasses.replace(self.config, epochs=epochs)
        encoded = [self.encode(e) for e in examples]
        self.load_adapter(start if start is not None else self._initial)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
        n = len(encoded)
        steps_per_epoch = math.ceil(n / config.batch_size)
        total = steps_per_epoch * config.epochs
        record = dataclasses.asdict(config) | {"n": n, "data": _fingerprint(encoded)}
        if start is not None:
            record["start"] = _state_fingerprint(start)
        checkpoint = Path(checkpoint_dir) / "last" if checkpoint_dir is not None else None
        first_epoch, losses = self._resume(checkpoint, record, optimizer)
        began = time.perf_counter()
        self.lower_states(encoded)
        with progress_bar(progress, description, total, first_epoch * steps_per_epoch) as advance:
            for epoch in range(first_epoch, config.epochs):
                order = torch.randperm(
                    n, generator=torch.Generator().manual_seed(config.seed * 7919 + epoch)
                )
                loss_sum = 0.0
                for step in range(steps_per_epoch):
                    index = order[step * config.batch_size : (step + 1) * config.batch_size]
                    lr = _learning_rate(config.lr, epoch * steps_per_epoch + step, total)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    logits, targets = self._answer_logits([encoded[int(i)] for i in index])
                    loss = F.cross_entropy(logits, targets)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += float(loss.detach()) * index.numel()
                    advance(1)
                losses.append(loss_sum / n)
                if checkpoint is not None:
                    self._save(checkpoint, record, optimizer, epoch, losses)
        self.model.eval()
        return FineTuneResult(
            epochs_run=config.epochs - first_epoch,
            resumed_from_epoch=first_epoch,
            seconds=time.perf_counter() - began,
            losses=tuple(losses),
        )

    def _resume(
        self, checkpoint: Path | None, record: dict[str, Any], optimizer: torch.optim.Optimizer
    ) -> tuple[int, list[float]]:
        if checkpoint is None or not checkpoint_exists(checkpoint):
            return 0, []
        try:
            tensors, meta = load_checkpoint(checkpoint)
        except CorruptCheckpointError as error:
            warnings.warn(f"{error}; fine-tuning from scratch", stacklevel=3)
            return 0, []
        if meta.get("config") != record:
            return 0, []
        self.load_adapter(
            {k[len("adapter.") :]: v for k, v in tensors.items() if k[:8] == "adapter."}
        )
        _restore_optimizer(optimizer, tensors, meta["param_groups"])
        return int(meta["epoch"]) + 1, [float(v) for v in meta["losses"]]

    def _save(
        self,
        checkpoint: Path,
        record: dict[str, Any],
        optimizer: torch.optim.Optimizer,
        epoch: int,
        losses: list[float],
    ) -> None:
        optim_tensors, param_groups = _optimizer_tensors(optimizer)
        tensors = {f"adapter.{k}": v for k, v in self.adapter_state().items()} | optim_tensors
        meta = {"epoch": epoch, "config": record, "param_groups": param_groups, "losses": losses}
        save_checkpoint(checkpoint, tensors, meta)

    # ----------------------------------------------------------------- measurements
    def _per_answer(
        self, examples: Sequence[Instruction], batch_size: int
    ) -> Iterator[tuple[int, Tensor, Tensor]]:
        """``(index, logits (A, V), answer tokens (A,))`` of each example's answer, in order."""
        encoded = [self.encode(e) for e in examples]
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            logits, targets = self._answer_logits(chunk)
            offset = 0
            for row, item in enumerate(chunk):
                size = item.ids.numel() - item.answer_start
                yield start + row, logits[offset : offset + size], targets[offset : offset + size]
                offset += size

    @torch.no_grad()
    def answer_matches(self, examples: Sequence[Instruction], batch_size: int = 32) -> Tensor:
        """Whether greedy decoding answers each prompt with exactly its ``answer`` (then stops).

        Returns:
            ``(N,)`` bool.
        """
        out = torch.zeros(len(examples), dtype=torch.bool)
        for index, logits, targets in self._per_answer(examples, batch_size):
            out[index] = bool((logits.argmax(-1) == targets).all())
        return out

    @torch.no_grad()
    def answer_nll(self, examples: Sequence[Instruction], batch_size: int = 32) -> Tensor:
        """Mean negative log-likelihood (nats) of each answer and its end token: ``(N,)``."""
        out = torch.zeros(len(examples))
        for index, logits, targets in self._per_answer(examples, batch_size):
            out[index] = F.cross_entropy(logits, targets)
        return out

    @torch.no_grad()
    def features(
        self, examples: Sequence[Instruction], *, where: str = "answer", batch_size: int = 32
    ) -> Tensor:
        """Final-layer states of each example (normalised, before the output layer): ``(N, D)``.

        Args:
            examples: the examples (prompt and answer).
            where: ``"answer"``: the mean over the positions that predict the answer's tokens
                (the last prompt token and the answer but its last token), the state in which
                the model "says" the answer; ``"prompt"``: the last prompt token only.
            batch_size: examples per forward pass.
        """
        if where not in ("answer", "prompt"):
            raise ValueError(f"where must be 'answer' or 'prompt', got {where!r}")
        encoded = [self.encode(e) for e in examples]
        rows = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            hidden = self._top(chunk)
            for row, item in enumerate(chunk):
                first = item.answer_start - 1
                last = item.ids.numel() - 1 if where == "answer" else item.answer_start
                rows.append(hidden[row, first:last].mean(0))
        return torch.stack(rows)

    @torch.no_grad()
    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = 24, batch_size: int = 16
    ) -> list[str]:
        """Greedy replies of the model with its adapter, one per prompt."""
        replies: list[str] = []
        for start in range(0, len(prompts), batch_size):
            ids = [self.prompt_ids(p) for p in prompts[start : start + batch_size]]
            outputs = self.lm.generate(ids, max_new_tokens=max_new_tokens, do_sample=False)
            replies += [output.text for output in outputs]
        return replies

    @contextmanager
    def base_model(self) -> Iterator[None]:
        """Run the block with the adapter switched off (the model before fine-tuning)."""
        with self.model.disable_adapter():
            yield


def _end_of_turn(lm: LanguageModel) -> list[int]:
    """The token that ends an assistant turn (ChatML's ``<|im_end|>``, else EOS), if any."""
    convert = getattr(lm.tokenizer, "convert_tokens_to_ids", None)
    end = convert("<|im_end|>") if convert is not None else None
    unknown = getattr(lm.tokenizer, "unk_token_id", None)
    if isinstance(end, int) and end >= 0 and end != unknown:
        return [end]
    return [] if lm.eos_token_id is None else [lm.eos_token_id]


def _key(ids: Tensor) -> bytes:
    return ids.numpy().tobytes()


def _pad(sequences: Sequence[Tensor]) -> tuple[Tensor, list[int]]:
    return pad_sequence(list(sequences), batch_first=True), [int(s.numel()) for s in sequences]


def _fingerprint(encoded: Sequence[_Encoded]) -> str:
    digest = hashlib.sha256()
    for item in encoded:
        digest.update(item.answer_start.to_bytes(4, "little") + _key(item.ids) + b"|")
    return digest.hexdigest()[:16]


def _state_fingerprint(state: dict[str, Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + state[name].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _learning_rate(peak: float, step: int, total: int) -> float:
    warmup = max(1, total // 10)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))
