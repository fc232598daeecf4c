"""eedi.rerank.prompt on SmolLM2's tokenizer and chat template: the prompt's layout (question,
instruction, candidate last), the prefix shared by a row's candidates, truncation that cuts the
question (then the answers) and never the candidate or instruction, a clear error when
max_length is too short, and the single-token Yes/No check."""

import click
import pytest

from conftest import NAMES
from conftest import ROW
from eedi.rerank.prompt import INSTRUCTION
from eedi.rerank.prompt import ListPromptBuilder
from eedi.rerank.prompt import PromptBuilder
from eedi.rerank.prompt import TASK
from eedi.rerank.prompt import yes_no_ids


def decode(prompts, ids) -> str:
    return prompts.tokenizer.decode(ids)


def test_prompt_puts_question_then_instruction_then_the_candidate_last(prompts):
    prefix, [suffix] = prompts.encode(ROW, [NAMES[0]])
    text = decode(prompts, prefix + suffix)
    assert text == prompts.text(ROW, NAMES[0])  # the pieces join to the documented prompt
    order = [text.index(s) for s in (TASK, "Subject: Fractions", r"\frac{1}{3}",
                                     "Wrong answer:", INSTRUCTION, NAMES[0])]
    assert order == sorted(order)
    # everything but the candidate is shared: the suffix is the candidate and the chat tail
    assert decode(prompts, prefix).endswith(INSTRUCTION + "\nMisconception:")
    assert decode(prompts, suffix) == " " + NAMES[0] + prompts.tail
    assert text.startswith("<|im_start|>") and text.endswith("<|im_start|>assistant\n")


def test_every_candidate_of_a_row_shares_the_prefix(prompts):
    prefix, suffixes = prompts.encode(ROW, [NAMES[0], NAMES[3]])
    for name, suffix in zip([NAMES[0], NAMES[3]], suffixes):
        alone_prefix, [alone] = prompts.encode(ROW, [name])
        assert alone_prefix == prefix and alone == suffix


def test_truncation_cuts_only_the_question(prompts):
    long_row = dict(ROW, QuestionText="Work out the value of this long expression " * 40)
    builder = PromptBuilder(prompts.tokenizer, max_length=140)
    prefix, suffixes = builder.encode(long_row, [NAMES[0], NAMES[1]])
    assert max(len(prefix) + len(s) for s in suffixes) == 140
    head = decode(builder, prefix)
    for kept in ("Subject: Fractions", "Construct: Add fractions", "Correct answer:",
                 r"Wrong answer: \( \frac{2}{7} \)", "Misconception:"):
        assert kept in head
    assert head.count("long expression") < 40
    assert INSTRUCTION in head and NAMES[1] in decode(builder, suffixes[1])


def test_very_long_answers_are_cut_when_the_question_is_not_enough(prompts):
    row = dict(ROW, QuestionText="Short?", AnswerText="a very long wrong answer " * 30)
    builder = PromptBuilder(prompts.tokenizer, max_length=150)
    prefix, [suffix] = builder.encode(row, [NAMES[0]])
    assert len(prefix) + len(suffix) == 150
    head = decode(builder, prefix)
    assert "Short?" not in head and "Wrong answer: a very long" in head
    assert head.endswith("Misconception:") and NAMES[0] in decode(builder, suffix)


def test_a_listwise_window_cuts_very_long_answers_too(prompts):
    """As the Yes/No prompt: a real row (512_A) whose answers outgrow max_length with a window
    of 5 loses the answers' end, not the run; the marker and every candidate stay."""
    row = dict(ROW, QuestionText="Short?", AnswerText="a very long wrong answer " * 30)
    builder = ListPromptBuilder(prompts.tokenizer, max_length=200)
    window = [NAMES[i] for i in range(5)]
    prefix, [suffix] = builder.encode_windows(row, [window])
    assert len(prefix) + len(suffix) == 200
    head = decode(builder, prefix)
    assert "Short?" not in head and "Wrong answer: a very long" in head
    assert head.endswith("Misconceptions:")
    assert all(f"{label}. {name}" in decode(builder, suffix)
               for label, name in zip(builder.labels, window))
    with pytest.raises(click.ClickException, match="row 10_B: a window of 5 candidates needs"):
        ListPromptBuilder(prompts.tokenizer, max_length=100).encode_windows(ROW, [window])


def test_too_short_max_length_is_a_clear_error(prompts):
    builder = PromptBuilder(prompts.tokenizer, max_length=60)
    with pytest.raises(click.ClickException, match="row 10_B.*max_length 60"):
        builder.encode(ROW, [NAMES[0]])


def test_yes_and_no_must_be_single_tokens(prompts):
    assert prompts.yes_no == (prompts.tokenizer.convert_tokens_to_ids("Yes"),
                              prompts.tokenizer.convert_tokens_to_ids("No"))

    class SplitsYes:
        def encode(self, word, add_special_tokens=False):
            return [1, 2] if word == "Yes" else [3]
    with pytest.raises(click.ClickException, match="'Yes' is 2 tokens"):
        yes_no_ids(SplitsYes(), "odd-model")
