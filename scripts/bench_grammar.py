"""Structured-generation libraries on the rule format's grammar: compile time, mask time, soundness.

Compares xgrammar and llguidance on this CPU with SmolLM2's tokenizer (49,152 tokens) and the
grammar file `src/rulelens/data/grammars/rulelens.gbnf`: xgrammar reads it as it is, llguidance
through its GBNF-to-Lark converter, the way `rulelens.data.rule_grammar` uses it. For every
shipped rule it walks the rule's tokens: at each step it computes the library's token mask, times
it, and checks that the rule's next token is allowed (soundness: a mask must never exclude a valid
rule); at the end the grammar must accept. It also reports how many tokens a mask allows on
average (smaller is tighter) and each library's installed size.

    PYTHONPATH=<folder with xgrammar> .venv/bin/python scripts/bench_grammar.py

Figures and the choice they support: docs/evaluation.md, "Structured-generation libraries".
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "src" / "rulelens" / "data" / "grammars" / "rulelens.gbnf"
RULES = ROOT / "data" / "01_raw" / "building_code_rules.csv"


def installed_mb(distribution: str) -> float:
    """Megabytes of the files a distribution installed (its RECORD)."""
    files = metadata.distribution(distribution).files or []
    return sum(f.locate().stat().st_size for f in files if f.locate().exists()) / 1e6


def load_tokenizer():
    from transformers import AutoTokenizer

    from rulelens.offline_weights import load_gguf_tokenizer

    folder = Path("/tmp/rulelens_bench_tokenizer")
    if not (folder / "tokenizer.json").exists():
        load_gguf_tokenizer().save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def timed(make):
    """``make()`` and the seconds it took."""
    start = time.perf_counter()
    value = make()
    return value, time.perf_counter() - start


class XGrammar:
    name = "xgrammar"
    distributions = ("xgrammar", "apache-tvm-ffi")

    def __init__(self, tokenizer, grammar: str) -> None:
        import xgrammar as xgr

        self.xgr = xgr
        self.info, self.tokenizer_s = timed(
            lambda: xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
        )
        compiler = xgr.GrammarCompiler(self.info, cache_enabled=False)
        self.compiled, self.compile_s = timed(lambda: compiler.compile_grammar(grammar))
        self.bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)

    def start(self):
        return self.xgr.GrammarMatcher(self.compiled)

    def mask(self, matcher):
        matcher.fill_next_token_bitmask(self.bitmask)
        return self.bitmask[0]

    @staticmethod
    def allowed(mask, token: int) -> bool:
        return bool((int(mask[token // 32]) >> (token % 32)) & 1)

    @staticmethod
    def count(mask) -> int:
        return int(sum(bin(int(word) & 0xFFFFFFFF).count("1") for word in mask.tolist()))

    @staticmethod
    def accept(matcher, token: int) -> bool:
        return matcher.accept_token(token)

    @staticmethod
    def accepting(matcher) -> bool:
        return matcher.is_completed()


class LLGuidance:
    """The project's own llguidance path (rulelens.data.rule_grammar), timed."""

    name = "llguidance"
    distributions = ("llguidance",)

    def __init__(self, tokenizer, grammar: str) -> None:  # grammar: the same file, read by rule_grammar
        from rulelens.data import rule_grammar

        self.rule_grammar = rule_grammar
        self.lltok, self.tokenizer_s = timed(lambda: rule_grammar.grammar_tokenizer(tokenizer))
        # the grammar is converted and compiled when the first matcher is made
        _, self.compile_s = timed(lambda: rule_grammar.rule_matcher(self.lltok))

    def start(self):
        return self.rule_grammar.rule_matcher(self.lltok)

    @staticmethod
    def mask(matcher):
        return matcher.compute_bitmask()

    def allowed(self, mask, token: int) -> bool:
        return self.rule_grammar.mask_allows(mask, token)

    @staticmethod
    def count(mask) -> int:
        return sum(bin(byte).count("1") for byte in mask)

    @staticmethod
    def accept(matcher, token: int) -> bool:
        return matcher.consume_token(token)

    @staticmethod
    def accepting(matcher) -> bool:
        return matcher.is_accepting()


def walk(library, tokenizer, rules: list[str], with_density: bool) -> dict[str, float]:
    """Every rule token by token: mask seconds per step, soundness, mean allowed tokens per mask."""
    seconds, densities, rejected, steps = [], [], [], 0
    for rule in rules:
        matcher = library.start()
        ok = True
        for token in tokenizer(rule, add_special_tokens=False)["input_ids"]:
            start = time.perf_counter()
            mask = library.mask(matcher)
            seconds.append(time.perf_counter() - start)
            steps += 1
            if with_density:
                densities.append(library.count(mask))
            if not library.allowed(mask, token) or not library.accept(matcher, token):
                ok = False
                break
        if not (ok and library.accepting(matcher)):
            rejected.append(rule)
    micro = sorted(s * 1e6 for s in seconds)
    return {
        "rules": len(rules),
        "rejected": len(rejected),
        "steps": steps,
        "mask_us_mean": statistics.fmean(micro),
        "mask_us_p50": micro[len(micro) // 2],
        "mask_us_p99": micro[int(len(micro) * 0.99)],
        "allowed_tokens_mean": statistics.fmean(densities) if densities else float("nan"),
        "first_rejected": rejected[0][:120] if rejected else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes over the rules (the best is kept)")
    args = parser.parse_args()
    tokenizer = load_tokenizer()
    grammar = GRAMMAR.read_text(encoding="utf-8")
    rules = pd.read_csv(RULES)["rule"].astype(str).tolist()
    rows = []
    for cls in (XGrammar, LLGuidance):
        library = cls(tokenizer, grammar)
        runs = [walk(library, tokenizer, rules, with_density=i == 0) for i in range(args.repeats)]
        best = min(runs, key=lambda r: r["mask_us_mean"])
        best["allowed_tokens_mean"] = runs[0]["allowed_tokens_mean"]
        rows.append(
            {
                "library": f"{cls.name} {metadata.version(cls.name)}",
                "installed_MB": round(sum(installed_mb(d) for d in cls.distributions), 1),
                "tokenizer_s": round(library.tokenizer_s, 3),
                "compile_s": round(library.compile_s, 3),
                **{k: round(v, 1) if isinstance(v, float) else v for k, v in best.items()},
            }
        )
    table = pd.DataFrame(rows).set_index("library").T
    print(table.to_string())
    ratio = rows[0]["mask_us_mean"] / rows[1]["mask_us_mean"]
    print(f"\nmean mask time, xgrammar / llguidance: {ratio:.2f}")


if __name__ == "__main__":
    main()
