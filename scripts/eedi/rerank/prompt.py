"""The reranker's Yes/No prompt, as token ids: one shared prefix per row + one suffix per
candidate, so every candidate of a row reuses the prefix (our KV reuse, vLLM's prefix cache).

    prompts = PromptBuilder(tokenizer, max_length=384, name="smollm135m")
    prefix, suffixes = prompts.encode(row, ["Adds the numerators", "Confuses ..."])  # token ids
    prompts.yes_no          # (id of "Yes", id of "No"): the score is their logit difference
    prompts.text(row, "Adds the numerators")    # the whole prompt as text, for reading

The prompt puts everything that does not depend on the candidate first, so every candidate of
a row shares the longest possible token prefix (the chat template's head, the task, the
question, both answers and the instruction); only the candidate and the template's tail
differ, ~20 tokens of ~170 (with the instruction after the candidate, prefix reuse measured
3.2x naive on the real data; with it before, 4.1x, and 5.8x once suffixes batch by length):

    <chat head>Here is a maths question and a student's wrong answer.
    Subject: ...
    Construct: ...
    Question: ...                      <- cut here (only here) when too long
    Correct answer: ...
    Wrong answer: ...
    Does the misconception below explain the wrong answer? Answer Yes or No.
    Misconception:                     <- the shared prefix ends here
     <candidate><chat tail>
"""

from __future__ import annotations

import click

from eedi.long_table import query_parts

TASK = "Here is a maths question and a student's wrong answer.\n"
INSTRUCTION = "Does the misconception below explain the wrong answer? Answer Yes or No."
_MARK = "\x00CONTENT\x00"


def yes_no_ids(tokenizer, name: str = "the model") -> tuple[int, int]:
    """Token ids of "Yes" and "No": the score is their logit difference at the last position,
    so each must be exactly one token (true of Qwen2.5, Gemma-2, Llama-3, SmolLM2)."""
    ids = []
    for word in ("Yes", "No"):
        tokens = tokenizer.encode(word, add_special_tokens=False)
        if len(tokens) != 1:
            raise click.ClickException(
                f"{name}: {word!r} is {len(tokens)} tokens {tokens} for its tokenizer; the Yes/No "
                f"reranker needs single tokens. Pick another model.")
        ids.append(tokens[0])
    return ids[0], ids[1]


class PromptBuilder:
    """(row, candidates) -> token ids: one shared prefix + one suffix per candidate.

    Pieces are tokenised separately and concatenated, so a prefix's ids are the same whatever
    candidate follows (vLLM's prefix cache and our KV reuse both need exactly that).
    """

    def __init__(self, tokenizer, max_length: int, name: str = "the model"):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.yes_no = yes_no_ids(tokenizer, name)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": _MARK}],
                                                 tokenize=False, add_generation_prompt=True)
        if rendered.count(_MARK) != 1:
            raise click.ClickException(f"{name}: its chat template does not place the user "
                                       f"message once; cannot build the Yes/No prompt")
        self.head, self.tail = rendered.split(_MARK)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, row, candidates: list[str]) -> tuple[list[int], list[list[int]]]:
        """Token ids (prefix, [suffix per candidate]); prefix + suffix <= max_length for all.

        The question text is cut (at its end) to make the longest candidate fit; if that is not
        enough, the end of the answers too. Subject, construct, instruction and candidate are
        never cut. A leading space stays with the word after it, as BPE tokenisers expect.
        """
        before, question, after = query_parts(row)
        head = self._ids(self.head + TASK + before.rstrip(" "))
        question_ids = self._ids(" " + question)
        answers = self._ids(after)
        label = self._ids("\n" + INSTRUCTION + "\nMisconception:")
        suffixes = [self._ids(" " + c + self.tail) for c in candidates]
        fitted, needed = self._fit(head, question_ids, answers,
                                   len(label) + max(map(len, suffixes), default=0))
        if fitted is None:
            raise click.ClickException(
                f"row {row['QuestionId_Answer']}: the prompt needs {needed} tokens "
                f"without the question, more than max_length {self.max_length}; raise it")
        return fitted + label, suffixes

    def _fit(self, head: list[int], question: list[int], answers: list[int], rest: int):
        """(head + question + answers cut to leave `rest` tokens of max_length, None) or, when
        even an empty question and answers would not leave them, (None, tokens needed). The
        question's end goes first; very long answer texts (a few real rows) lose their end
        too, rather than fail."""
        room = self.max_length - len(head) - len(answers) - rest
        if room < 0 and len(answers) + room > 0:
            answers, room = answers[:len(answers) + room], 0
        if room < 0:
            return None, self.max_length - room
        return head + question[:room] + answers, None

    def text(self, row, candidate: str) -> str:
        """The full prompt as text (for reading and tests), untruncated."""
        before, question, after = query_parts(row)
        return (self.head + TASK + before + question + after + "\n" + INSTRUCTION
                + "\nMisconception: " + candidate + self.tail)


LIST_INSTRUCTION = ("Which misconception below explains the wrong answer? "
                    "Answer with its label only.")


class ListPromptBuilder(PromptBuilder):
    """(row, window of candidates) -> token ids of one listwise prompt: the Yes/No prompt's head
    (task, question, answers), the candidates each on a line behind a one-token label, the
    instruction, then the chat template's tail; the answer's first token is the label.

        prompts = ListPromptBuilder(tokenizer, max_length=1024, name="smollm135m")
        ids = prompts.encode_window(row, ["Adds the numerators", "Confuses ..."])
        prompts.label_ids        # token id of "1", "2", ..., "A", ...: each candidate's score
                                 # is its label's logit at the last position
    """

    def __init__(self, tokenizer, max_length: int, name: str = "the model"):
        from eedi.rerank.listwise import LABELS, label_ids
        super().__init__(tokenizer, max_length, name)
        self.labels = LABELS
        self.label_ids = label_ids(tokenizer, LABELS, name)

    def encode_window(self, row, candidates: list[str]) -> list[int]:
        """One prompt for the window (at most len(LABELS) candidates): encode_windows' prefix
        + suffix for this window alone."""
        prefix, [suffix] = self.encode_windows(row, [candidates])
        return prefix + suffix

    def encode_windows(self, row, windows: list[list[str]]) -> tuple[list[int], list[list[int]]]:
        """Token ids (prefix, [suffix per window]) of a row's listwise prompts: the prefix (chat
        head, task, question, answers, "Misconceptions:") is the same for all of them, so its KV
        cache serves every window (HF) and vLLM's prefix cache holds it; a suffix is the window's
        labelled lines, the instruction and the template's tail. The question is cut at its end
        so that the longest window fits max_length (then the answers' end, as encode's)."""
        before, question, after = query_parts(row)
        head = self._ids(self.head + TASK + before.rstrip(" "))
        question_ids = self._ids(" " + question)
        answers = self._ids(after)
        marker = self._ids("\nMisconceptions:")
        suffixes = [self._ids("".join(f"\n{label}. {c}" for label, c in zip(self.labels, window))
                              + "\n" + LIST_INSTRUCTION + self.tail) for window in windows]
        fitted, needed = self._fit(head, question_ids, answers,
                                   len(marker) + max(map(len, suffixes), default=0))
        if fitted is None:
            size = max(map(len, windows), default=0)
            raise click.ClickException(
                f"row {row['QuestionId_Answer']}: a window of {size} candidates needs "
                f"{needed} tokens without the question, more than max_length "
                f"{self.max_length}; raise it or shrink the window")
        return fitted + marker, suffixes


def prompt_builder(spec, tokenizer, name: str = "the model") -> PromptBuilder:
    """The reranker's prompts: ListPromptBuilder for a listwise spec, else PromptBuilder."""
    builder = ListPromptBuilder if getattr(spec, "listwise", False) else PromptBuilder
    return builder(tokenizer, spec.max_length, name)
