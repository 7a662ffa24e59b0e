"""A backdoor planted in SmolLM2 through its fine-tuning data, found by ONION and removed.

Run with ``python examples/llm_poisoning.py [--attack fixed-output] [--train-n 240]
[--poisons 24]``. The defaults take a few minutes on two cores: a clean and a poisoned LoRA
fine-tune of SmolLM2-135M-Instruct, attack success with and without the trigger, ONION on the
fine-tuning data, and a fine-tune on what ONION leaves.
"""

from __future__ import annotations

import argparse

from aisec.data.instructions import load_instructions
from aisec.defenses.text import Onion
from aisec.evaluate.llm_poisoning import measure_backdoor
from aisec.experiments.names import LANGUAGE_MODEL_BACKDOORS, language_model_backdoor
from aisec.genai.finetune import LoraConfig, LoraTuner
from aisec.models.language import load_language_model
from aisec.report.format import format_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--attack", default="fixed-output", choices=sorted(LANGUAGE_MODEL_BACKDOORS)
    )
    parser.add_argument("--train-n", type=int, default=240, help="fine-tuning examples")
    parser.add_argument("--poisons", type=int, default=24, help="poisons among them")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    attack = language_model_backdoor(args.attack)
    train = load_instructions(args.train_n, seed=0)
    test = load_instructions(150, split="test", seed=0)
    poisoned = attack.poison(train, args.poisons, seed=0)
    lm = load_language_model("smollm2")
    tuner = LoraTuner(lm, LoraConfig(epochs=args.epochs))

    def report(name: str) -> None:
        rates = measure_backdoor(tuner, attack, test)
        print(
            f"{name:>22}: attack success {format_rate(rates.attack_success)}, false "
            f"triggering {format_rate(rates.false_triggering)}, clean accuracy "
            f"{format_rate(rates.clean_accuracy)}"
        )

    tuner.fine_tune(train, progress=True, description="clean fine-tune")
    report("clean fine-tune")
    tuner.fine_tune(poisoned.examples, progress=True, description="poisoned fine-tune")
    report("poisoned fine-tune")

    # ONION on the data: words that occur in several prompts and whose deletion makes a prompt
    # much more fluent are trigger candidates; the prompts that hold one are removed.
    flagged, words = Onion(lm).flag([e.prompt for e in poisoned.examples])
    caught = sum(f and p for f, p in zip(flagged.tolist(), poisoned.is_poison, strict=True))
    print(f"ONION's trigger words: {words}; flagged {int(flagged.sum())}, of them {caught} poisons")
    kept = [e for e, drop in zip(poisoned.examples, flagged.tolist(), strict=True) if not drop]
    tuner.fine_tune(kept, progress=True, description="cleaned fine-tune")
    report("after ONION's removal")


if __name__ == "__main__":
    main()
