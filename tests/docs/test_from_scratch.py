"""The "write it yourself, then use aisec" steps of the docs: each from-scratch file under
``examples/from_scratch/`` is quoted verbatim in its chapter and does what aisec does.

Guarantees checked (no golden numbers): the quotes equal the files; from-scratch PGD returns the
very tensor ``aisec.PGD`` returns on the same seed (float64; in float32 within one rounding of
the ball's edge); the linear closed form is inside the threat model, at least as bad as PGD's
point, and reached by PGD where PGD's direction is the worst one; BPDA's forward pass, gradient
and attack equal aisec's BPDA view; the greedy word search returns aisec's text; the watermark
z-score equals aisec's detector's.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import PGD
from aisec.attacks.evasion.losses import margin
from aisec.attacks.text import TextAttack, UntargetedClassification
from aisec.attacks.text.search import GreedyWordImportance
from aisec.attacks.text.transformations import WordSwapSynonym
from aisec.defenses.preprocess import BitDepthReduction, PreprocessedModel
from aisec.genai.watermark import WatermarkScheme, detect
from aisec.threat import ThreatModel

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "examples" / "from_scratch"
# Which chapter quotes which file (each file once, in the block after its marker).
QUOTES = {
    "linear.py": "docs/00-threat-models.md",
    "pgd.py": "docs/00-threat-models.md",
    "bpda.py": "docs/02-vision-defenses.md",
    "greedy_words.py": "docs/03-text-attacks.md",
    "watermark_z.py": "docs/04-generative-ai.md",
}
_QUOTE = re.compile(
    r"<!-- from-scratch: examples/from_scratch/(?P<name>[\w.]+) -->\n"
    r"```python\n(?P<code>.*?)^```\s*$",
    re.M | re.S,
)


def load(name: str) -> ModuleType:
    """Import ``examples/from_scratch/NAME`` by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"from_scratch_{name[:-3]}", SCRATCH / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def body(source: str) -> str:
    """A file's code after its module docstring: the part the docs quote."""
    tree = ast.parse(source)
    first = tree.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant), "no docstring"
    assert first.end_lineno is not None
    return "".join(source.splitlines(keepends=True)[first.end_lineno :]).lstrip("\n")


def quotes(markdown: str) -> dict[str, list[str]]:
    """The ```python blocks that follow a ``<!-- from-scratch: ... -->`` marker, by file name."""
    found: dict[str, list[str]] = {}
    for match in _QUOTE.finditer(markdown):
        found.setdefault(match.group("name"), []).append(match.group("code"))
    return found


def quoted_verbatim(block: str, code: str) -> bool:
    """Whether ``block`` starts with ``code`` whole (then a blank line or nothing)."""
    return block == code or block.startswith(code + "\n")


# -- the quotes ---------------------------------------------------------------------------


def test_quote_check_can_fail() -> None:
    code = body('"""Doc."""\n\nimport torch\n\n\ndef f() -> int:\n    return 1\n')
    assert code == "import torch\n\n\ndef f() -> int:\n    return 1\n"
    markdown = (
        f"x\n<!-- from-scratch: examples/from_scratch/f.py -->\n```python\n{code}\nf()\n```\n"
    )
    (block,) = quotes(markdown)["f.py"]
    assert quoted_verbatim(block, code)
    assert not quoted_verbatim(block, code.replace("1", "2"))  # an edited file
    assert not quoted_verbatim(block.replace("return 1", "return 1  # note"), code)  # an edited doc


@pytest.mark.parametrize("name", sorted(QUOTES))
def test_docs_quote_the_file_verbatim(name: str) -> None:
    code = body((SCRATCH / name).read_text("utf-8"))
    blocks = quotes((ROOT / QUOTES[name]).read_text("utf-8")).get(name, [])
    assert len(blocks) == 1, f"{QUOTES[name]} should quote examples/from_scratch/{name} once"
    assert quoted_verbatim(blocks[0], code), (
        f"the block after the marker in {QUOTES[name]} must start with examples/from_scratch/"
        f"{name} exactly (after its module docstring); copy the file's code into the doc"
    )


# -- PGD ----------------------------------------------------------------------------------


def tiny_cnn(seed: int, dtype: torch.dtype) -> nn.Module:
    """A random 10-class CNN on 1x8x8 images (weights from ``seed``, no global RNG)."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model.to(dtype).eval()


def digits_like(n: int, seed: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=generator, dtype=dtype)
    return x, torch.randint(10, (n,), generator=generator)


def model_and_its_labels(
    model_seed: int, n: int, data_seed: int, dtype: torch.dtype
) -> tuple[nn.Module, Tensor, Tensor]:
    """A tiny CNN and ``n`` images labelled with its own predictions (all correctly classified)."""
    model = tiny_cnn(model_seed, dtype)
    x, _ = digits_like(n, data_seed, dtype)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def pgd_setup(dtype: torch.dtype) -> tuple[nn.Module, Tensor, Tensor]:
    """A tiny CNN and 24 images labelled with its own predictions (even rows) or at random
    (odd rows, mostly wrong)."""
    model = tiny_cnn(1, dtype)
    x, random_labels = digits_like(24, 2, dtype)
    with torch.no_grad():
        y = torch.where(torch.arange(24) % 2 == 0, model(x).argmax(1), random_labels)
    return model, x, y


@pytest.mark.parametrize(
    ("eps", "steps", "seed", "some_robust"),
    [(4 / 255, 5, 0, True), (8 / 255, 20, 3, True), (0.1, 10, 3, False), (0.3, 7, 11, False)],
)
def test_pgd_from_scratch_equals_aisec_pgd_bit_for_bit(
    eps: float, steps: int, seed: int, some_robust: bool
) -> None:
    pgd = load("pgd.py")
    model, x, y = pgd_setup(torch.float64)
    mine = pgd.pgd_linf(model, x, y, eps, steps=steps, seed=seed)
    result = PGD(ThreatModel("linf", eps), steps=steps, seed=seed)(model, x, y)
    assert torch.equal(mine, result.x_adv)
    assert bool(ThreatModel("linf", eps).contains(mine, x).all())
    # The comparison covers every rule: points wrong at the start (left at x), points fooled on
    # the way (kept at their first misclassified iterate) and points never fooled.
    with torch.no_grad():
        clean_wrong = model(x).argmax(1) != y
    assert bool(clean_wrong.any()) and torch.equal(mine[clean_wrong], x[clean_wrong])
    attacked = ~clean_wrong
    assert bool((result.success & attacked).any())
    assert bool((~result.success & attacked).any()) == some_robust


def test_pgd_equality_check_can_fail() -> None:
    pgd = load("pgd.py")
    model, x, y = model_and_its_labels(1, 24, 2, torch.float64)
    theirs = PGD(ThreatModel("linf", 0.1), steps=10, seed=3)(model, x, y).x_adv
    assert not torch.equal(pgd.pgd_linf(model, x, y, 0.1, steps=10, seed=4), theirs)  # seed
    assert not torch.equal(pgd.pgd_linf(model, x, y, 0.1, steps=9, seed=3), theirs)  # steps


def test_pgd_from_scratch_float32_within_one_rounding() -> None:
    """In float32, aisec rounds x ± ε towards x (``aisec.threat.linf_box``) so that no point
    leaves the ball by a rounding error; ``x0 - eps`` rounds to nearest. A coordinate that
    touches a face of the ball can so differ by one float32 rounding of a value in [0, 1]
    (at most 2**-23), and keeps that difference when later steps move it back inside."""
    pgd = load("pgd.py")
    model, x, y = pgd_setup(torch.float32)
    mine = pgd.pgd_linf(model, x, y, 0.1, steps=10, seed=3)
    theirs = PGD(ThreatModel("linf", 0.1), steps=10, seed=3)(model, x, y).x_adv
    assert torch.allclose(mine, theirs, rtol=0.0, atol=2**-23)
    assert bool((mine != theirs).any())  # the rounding does show up here
    with torch.no_grad():
        assert torch.equal(model(mine).argmax(1), model(theirs).argmax(1))


# -- the linear worst case ----------------------------------------------------------------


def linear_model(d: int, k: int, seed: int) -> nn.Linear:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Linear(d, k).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(k, d, generator=generator, dtype=torch.float64))
        model.bias.copy_(torch.randn(k, generator=generator, dtype=torch.float64))
    return model.eval()


@pytest.mark.parametrize("classes", [2, 5])
def test_linear_worst_case_beats_or_equals_pgd(classes: int) -> None:
    linear = load("linear.py")
    model = linear_model(20, classes, seed=classes)
    x = torch.rand(200, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    threat = ThreatModel("linf", 0.1)
    x_star = linear.linear_worst_case(model.weight.detach(), model.bias.detach(), x, y, 0.1)
    result = PGD(threat, steps=20, seed=0)(model, x, y)
    with torch.no_grad():
        exact, found = margin(model(x_star), y), margin(model(result.x_adv), y)
    assert bool(threat.contains(x_star, x).all())
    assert bool((exact <= found + 1e-9).all())  # no point of the ball is worse
    broken = exact < 0
    assert bool(broken.any()) and bool((~broken).any())
    assert bool((result.success <= broken).all())  # PGD breaks no point the closed form can't
    if classes == 2:
        # Two classes: sign(∇CE) is −sign(w_y − w_j), the worst direction, so PGD finds every
        # breakable point and walks the robust ones (which it never stops on) to the corner.
        assert torch.equal(result.success, broken)
        assert torch.equal(result.x_adv[~broken], x_star[~broken])


def test_linear_margin_drops_by_eps_times_l1_norm() -> None:
    """Away from the box's faces, the worst margin against class j is m_j − ε‖w_y − w_j‖₁."""
    linear = load("linear.py")
    model = linear_model(20, 5, seed=7)
    generator = torch.Generator().manual_seed(1)
    x = 0.2 + 0.6 * torch.rand(50, 20, generator=generator, dtype=torch.float64)
    eps = 0.1
    w, b = model.weight.detach(), model.bias.detach()
    with torch.no_grad():
        y = model(x).argmax(1)
        z = model(x)
        x_star = linear.linear_worst_case(w, b, x, y, eps)
        worst = margin(model(x_star), y)
    pairwise = z.gather(1, y[:, None]) - z - eps * (w[y][:, None, :] - w[None]).abs().sum(-1)
    pairwise[torch.arange(50), y] = torch.inf
    assert torch.allclose(worst, pairwise.min(1).values, rtol=0.0, atol=1e-12)
    assert torch.allclose((x_star - x).abs(), torch.full_like(x, eps))  # a corner of the ball


# -- BPDA ---------------------------------------------------------------------------------


def test_bpda_matches_aisec_forward_gradient_and_attack() -> None:
    bpda = load("bpda.py")
    model, x, y = model_and_its_labels(5, 16, 6, torch.float32)
    defended = PreprocessedModel(model, BitDepthReduction(bits=3))
    mine, theirs = bpda.BPDABits(model, bits=3), defended.with_bpda()

    def input_grad(m: nn.Module) -> tuple[Tensor, Tensor]:
        leaf = x.clone().requires_grad_(True)
        logits = m(leaf)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, y), leaf)
        return logits.detach(), grad

    (z_mine, g_mine), (z_theirs, g_theirs) = input_grad(mine), input_grad(theirs)
    (z_real, g_real) = input_grad(defended)
    assert torch.equal(z_mine, z_real) and torch.equal(z_theirs, z_real)  # the real defense
    assert torch.equal(g_mine, g_theirs)
    assert float(g_real.abs().max()) == 0.0 < float(g_mine.abs().max())  # masked vs straight
    threat = ThreatModel("linf", 0.1)
    a = PGD(threat, steps=5, seed=0)(mine, x, y)
    b = PGD(threat, steps=5, seed=0)(theirs, x, y)
    assert torch.equal(a.x_adv, b.x_adv)
    with torch.no_grad():
        assert torch.equal(defended(a.x_adv).argmax(1), a.adv_pred)  # verdict on the defense


# -- greedy word substitution -------------------------------------------------------------

WEIGHTS = {"good": 2.0, "great": 2.5, "love": 3.0, "fine": 0.4, "nice": 1.2, "big": 0.1}
WEIGHTS |= {"like": 1.0, "bad": -2.0, "awful": -3.0, "late": -1.5, "okay": 0.2, "trip": 0.05}
CANDIDATES = {
    "good": ["fine", "okay", "bad"],
    "great": ["big", "nice"],
    "love": ["like"],
    "bad": ["awful", "good"],
    "awful": ["bad"],
    "late": ["delayed"],
    "flight": ["trip"],
    "nice": ["fine"],
}


class Lexicon:
    """A bag-of-words sentiment victim with a bias towards "negative" (no exact ties)."""

    class_names: tuple[str, ...] = ("negative", "positive")

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        s = torch.tensor([sum(WEIGHTS.get(w, 0.0) for w in t.split(" ")) for t in texts])
        return torch.stack([0.3 - 0.8 * s, 0.8 * s], 1).softmax(1)


class Table:
    """``CANDIDATES`` as an aisec synonym source."""

    name = "table"

    def synonyms(self, word: str) -> list[str]:
        return list(CANDIDATES.get(word, []))


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("the flight was good and the crew was great", 1),  # flips after two swaps
        ("i love this great movie", 1),  # fails: the best it can do
        ("a great great day with good food", 1),  # a repeated word
        ("the flight was late and bad", 0),  # the other class
        ("nice", 1),  # one word, no flip
        ("okay then", 1),  # nothing to swap
        ("the flight was bad", 1),  # already misclassified: left alone
    ],
)
def test_greedy_word_swap_equals_aisec_search(text: str, label: int) -> None:
    greedy = load("greedy_words.py")
    victim = Lexicon()
    mine = greedy.greedy_word_swap(victim.predict_proba, text, label, CANDIDATES)
    search = GreedyWordImportance(candidate_batch=None)
    attack = TextAttack(UntargetedClassification(), WordSwapSynonym(Table()), [], search)
    result = attack.attack(victim, text, label)
    assert mine == result.adversarial
    words, new = text.split(" "), mine.split(" ")
    assert all(a == b or b in CANDIDATES.get(a, []) for a, b in zip(words, new, strict=True))


def test_greedy_word_swap_flips_when_it_succeeds() -> None:
    greedy = load("greedy_words.py")
    victim = Lexicon()
    text = "the flight was good and the crew was great"
    out = greedy.greedy_word_swap(victim.predict_proba, text, 1, CANDIDATES)
    assert out != text and int(victim.predict_proba([out])[0].argmax()) == 0
    stuck = greedy.greedy_word_swap(victim.predict_proba, "i love this great movie", 1, {})
    assert stuck == "i love this great movie"


# -- the watermark z-test -----------------------------------------------------------------


def watermarked_ids(scheme: WatermarkScheme, n: int, seed: int) -> list[int]:
    """Tokens from a random "language model" with δ added to the green logits (no transformers)."""
    generator = torch.Generator().manual_seed(seed)
    ids = [7]
    for _ in range(n):
        logits = 2.0 * torch.randn(scheme.vocab_size, generator=generator)
        logits[scheme.green_list([ids[-1]])] += scheme.delta
        ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=generator)))
    return ids


def test_watermark_z_equals_aisec_detector() -> None:
    z_test = load("watermark_z.py")
    scheme = WatermarkScheme(vocab_size=500, gamma=0.25, delta=2.0, seeding="simple_1", key=1234)
    marked = watermarked_ids(scheme, 60, seed=0)
    plain = torch.randint(500, (60,), generator=torch.Generator().manual_seed(1)).tolist()
    for ids in (marked, plain, marked + marked, plain * 3 + marked):
        mine = z_test.watermark_z(ids, vocab_size=500, gamma=0.25, key=1234)
        assert mine == detect(scheme, ids).z_score
    assert detect(scheme, marked).watermarked and not detect(scheme, plain).watermarked
    # It can fail: another key, or counting repeated pairs, gives another z.
    repeated = marked + marked
    assert z_test.watermark_z(repeated, 500, 0.25, key=1235) != detect(scheme, repeated).z_score
    assert z_test.watermark_z(repeated, 500, 0.25, key=1234) != (
        detect(scheme, repeated, ignore_repeated=False).z_score
    )
