"""Chat templates (Jinja): flag the ones that reach Python internals, without rendering them.

A GGUF file (``tokenizer.chat_template``) or a Hugging Face ``tokenizer_config.json``
(``chat_template``) carries a Jinja template that the runtime renders for every conversation.
Rendered outside a sandbox, a template can climb from any string to the interpreter:
``{{ ''.__class__.__mro__[1].__subclasses__() }}`` finds ``subprocess.Popen``, and
``{{ cycler.__init__.__globals__.os.popen('id').read() }}`` runs a shell. llama-cpp-python
rendered GGUF templates that way until 0.2.72 (CVE-2024-34359, "Llama Drama", Checkmarx 2024).

The template is *parsed* with Jinja's own parser (lexing and parsing only: nothing is compiled
or rendered) and its syntax tree is checked:

- attributes and constant item keys starting with ``_`` (every path to Python internals needs
  one: ``__class__``, ``__globals__``, ``__subclasses__``, ``__builtins__``, ``__import__``), or
  naming interpreter objects (``os``, ``popen``, ``eval``, ``mro``, ``f_globals``,
  ``format``, ...);
- the names of Jinja's globals that serve as gadgets (``self``, ``cycler``, ``joiner``,
  ``lipsum``) and of Python's (``os``, ``__builtins__``, ``eval``, ...);
- the ``attr`` filter, and item keys or attribute names computed from strings at render time;
- strings that contain ``__``, also when they are assembled from pieces
  (``'_' * 2 ~ 'class' ~ '_' * 2``, ``['_', '_'] | join``, ``'%c%c' % (95, 95)``), followed
  through ``{% set %}``.

What a static check cannot see: an attribute name that only exists at render time (a key taken
from a message). Render chat templates in ``jinja2.sandbox.ImmutableSandboxedEnvironment``, as
transformers and llama-cpp-python >= 0.2.72 do; the scan is the gate before that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.ext import Extension, do, loopcontrols
from jinja2.parser import Parser

from aisec.models.safety.findings import Finding

__all__ = ["template_findings"]

_GADGET_NAMES = frozenset(
    {
        "self",
        "cycler",
        "joiner",
        "lipsum",
        "config",
        "request",
        "url_for",
        "get_flashed_messages",
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "__builtins__",
        "__import__",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "globals",
        "locals",
        "vars",
        "open",
    }
)
"""Variable names that are Jinja gadgets or Python internals; no chat template needs them."""

_INTERNAL_ATTRIBUTES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "builtins",
        "popen",
        "spawn",
        "eval",
        "exec",
        "mro",
        "globals",
        "import_module",
        "load_module",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "tb_frame",
        "tb_next",
        "func_globals",
        "func_code",
        "co_code",
        "format",
        "format_map",
        "check_output",
        "getoutput",
    }
)
"""Attribute names of interpreter objects; ``format`` reads attributes through ``{0.x}``."""

_STRING_FILTERS = frozenset({"join", "format", "lower", "upper", "string", "reverse", "replace"})
_MAX_FOLDED = 10_000
_WIDTH = re.compile(r"%[-+ #0]*\d")


class _GenerationTag(Extension):
    """Parse (never run) transformers' ``{% generation %}...{% endgeneration %}`` block."""

    tags = {"generation"}  # noqa: RUF012  (Jinja's Extension API declares it this way)

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def template_findings(source: str, entry: str) -> list[Finding]:
    """Check a chat template's syntax tree for paths to Python internals.

    Args:
        source: the template text.
        entry: where it is (``"tokenizer.chat_template"``), for the findings.

    Returns:
        One finding per construct that reaches Python internals, or one saying that the
        template cannot be parsed (a runtime that renders it would parse it differently).
    """
    environment = Environment(extensions=[loopcontrols, do, _GenerationTag])
    try:
        tree = environment.parse(source)
    except (TemplateSyntaxError, RecursionError) as error:
        return [Finding(entry, f"chat template cannot be parsed: {error}")]
    return _TemplateCheck(entry).run(tree)


class _TemplateCheck:
    """One walk over a template's syntax tree."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.assigned: dict[str, str] = {}
        self.findings: list[Finding] = []

    def flag(self, reason: str, node: nodes.Node) -> None:
        finding = Finding(f"{self.entry} (line {node.lineno})", reason)
        if finding not in self.findings:
            self.findings.append(finding)

    def run(self, tree: nodes.Template) -> list[Finding]:
        for assign in tree.find_all(nodes.Assign):
            if isinstance(assign.target, nodes.Name):
                folded = self.fold(assign.node)
                if isinstance(folded, str):
                    self.assigned[assign.target.name] = folded
        for node in tree.find_all(nodes.Expr):
            self.check(node)
        return self.findings

    def check(self, node: nodes.Expr) -> None:
        if isinstance(node, nodes.Getattr):
            self.check_name(node.attr, "attribute", node)
        elif isinstance(node, nodes.Getitem):
            self.check_key(node)
        elif isinstance(node, nodes.Name) and node.name in _GADGET_NAMES:
            self.flag(f"uses the name {node.name!r}, a path to Python internals", node)
        elif isinstance(node, nodes.Filter):
            self.check_filter(node)
        folded = self.fold(node)
        if isinstance(folded, str) and "__" in folded:
            shown = folded if len(folded) <= 40 else folded[:37] + "..."
            self.flag(f"builds the string {shown!r}, a Python dunder name", node)

    def check_name(self, name: str, kind: str, node: nodes.Node) -> None:
        if name.startswith("_"):
            self.flag(f"reaches Python internals through the {kind} {name!r}", node)
        elif name in _INTERNAL_ATTRIBUTES:
            self.flag(f"the {kind} {name!r} belongs to the interpreter, not to chat data", node)

    def check_key(self, node: nodes.Getitem) -> None:
        key = self.fold(node.arg)
        if isinstance(key, str):
            self.check_name(key, "item key", node)
        elif _builds_string(node.arg):
            self.flag("an item key computed from strings at render time", node)

    def check_filter(self, node: nodes.Filter) -> None:
        if node.name == "attr":
            self.flag("the |attr filter fetches attributes by a name given as a string", node)
        for keyword in node.kwargs:
            if keyword.key == "attribute":
                name = self.fold(keyword.value)
                if isinstance(name, str):
                    self.check_name(name, "attribute", node)

    # constant folding of string expressions (never evaluates anything but str/int operators)

    def fold(self, node: nodes.Node) -> str | int | None:
        value: Any = None
        if isinstance(node, nodes.Const):
            value = node.value
        elif isinstance(node, nodes.Name):
            value = self.assigned.get(node.name)
        elif isinstance(node, nodes.Concat):
            parts = [self.fold(part) for part in node.nodes]
            if all(part is not None for part in parts):
                value = "".join(str(part) for part in parts)
        elif isinstance(node, nodes.Add | nodes.Mul | nodes.Mod):
            value = _fold_operator(node, self.fold(node.left), self.fold(node.right), self)
        elif isinstance(node, nodes.Filter) and node.name in _STRING_FILTERS:
            value = self.fold_filter(node)
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        if isinstance(value, str) and len(value) > _MAX_FOLDED:
            return None
        return value

    def fold_filter(self, node: nodes.Filter) -> str | None:
        if node.node is None:
            return None
        if node.name == "join" and isinstance(node.node, nodes.List | nodes.Tuple):
            items = [self.fold(item) for item in node.node.items]
            separator = self.fold(node.args[0]) if node.args else ""
            if all(item is not None for item in items) and separator is not None:
                return str(separator).join(str(item) for item in items)
            return None
        base = self.fold(node.node)
        if not isinstance(base, str):
            return None
        args = [self.fold(arg) for arg in node.args]
        if any(arg is None for arg in args):
            return None
        return _apply_string_filter(node.name, base, args)

    def fold_sequence(self, node: nodes.Node) -> tuple[str | int, ...] | None:
        if isinstance(node, nodes.Tuple | nodes.List):
            items = [self.fold(item) for item in node.items]
            if all(item is not None for item in items):
                return tuple(item for item in items if item is not None)
            return None
        single = self.fold(node)
        return None if single is None else (single,)


def _fold_operator(
    node: nodes.Add | nodes.Mul | nodes.Mod,
    left: str | int | None,
    right: str | int | None,
    check: _TemplateCheck,
) -> str | int | None:
    """Fold ``+``, ``*`` and ``%`` on constant strings and integers."""
    if isinstance(node, nodes.Mod):
        arguments = check.fold_sequence(node.right)
        if isinstance(left, str) and arguments is not None and not _WIDTH.search(left):
            try:
                return left % arguments
            except (TypeError, ValueError, OverflowError):
                return None
        return None
    if left is None or right is None:
        return None
    if isinstance(node, nodes.Add):
        same = isinstance(left, str) == isinstance(right, str)
        return left + right if same else None  # type: ignore[operator]
    count = right if isinstance(right, int) else left
    text = left if isinstance(left, str) else right
    if isinstance(text, str) and isinstance(count, int) and 0 <= count * len(text) <= _MAX_FOLDED:
        return text * count
    return None


def _apply_string_filter(name: str, base: str, args: list[str | int | None]) -> str | None:
    """Apply one of Jinja's string filters to a folded constant."""
    if name == "format":
        if _WIDTH.search(base):
            return None
        try:
            return base % tuple(args)
        except (TypeError, ValueError, OverflowError):
            return None
    if name == "replace" and len(args) >= 2:
        return base.replace(str(args[0]), str(args[1]))
    simple: dict[str, Callable[[str], str]] = {
        "lower": str.lower,
        "upper": str.upper,
        "string": str,
        "reverse": _reverse,
    }
    return simple[name](base) if name in simple else None


def _reverse(text: str) -> str:
    return text[::-1]


def _builds_string(node: nodes.Node) -> bool:
    """Whether an expression assembles a string (concatenation, repetition, formatting)."""
    if isinstance(node, nodes.Concat | nodes.Add | nodes.Mul | nodes.Mod):
        return True
    return isinstance(node, nodes.Filter) and node.name in _STRING_FILTERS
