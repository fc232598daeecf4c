"""Generate a synthetic dataset in the exact Kaggle schema of "Eedi - Mining Misconceptions in
Mathematics": the embedded sample the pipeline runs on when no Kaggle data is present, the data of
the end-to-end tests, and a dataset of any size for scaling benchmarks.

Every question comes from a template (one Eedi construct) whose numbers are drawn from a seeded
RNG. A template lists its misconceptions as data, (name, buggy procedure): the procedure computes,
from the question's numbers, the answer a student holding that misconception would give. So each
wrong answer really is explained by its label, and a retriever that matches answers to
misconception names has a real signal to learn, as on Kaggle's data.

Like the real data: about one wrong answer in eight is a careless slip with no misconception
(empty cell); a long tail of misconceptions has only a few train rows each, so CV folds hold
misconceptions unseen in the other folds; some misconceptions occur only in test (Kaggle's test has unseen misconceptions);
the mapping has names no question uses; test QuestionIds follow train's.

Same arguments, byte-identical files: one `random.Random(seed)` drives everything, and nothing
iterates over a set (string hashing is randomised per process).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from fractions import Fraction as F
from math import gcd
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import click
import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K
from eedi.files import write_csv
from eedi.kaggle_csv import LETTERS, MAPPING_COLUMNS, TEST_COLUMNS, TRAIN_COLUMNS
from eedi.run_log import log, setup_logging, step_timer

SLIP_RATE = 0.36  # chance a question has one careless wrong answer: ~12% of wrong answers
TEST_ONLY_SHARE = 0.15  # share of the used misconceptions that occur in test only
MIN_TEST_ONLY = 4
RARE_TEMPLATES = 5  # constructs in the long tail: a train question is one of them ~1 time in 100
RARE_WEIGHT = 0.05
MIN_TRAIN_MISCONCEPTIONS = 3  # a template keeps enough train misconceptions for 3 wrong answers
MAX_DRAWS = 1000  # redraws of one question's numbers before a template is declared broken


# --------------------------------------------------------------------------- answer formatting

def tf(n: int, d: int) -> str:
    """A fraction as written in a question (not simplified)."""
    return rf"\frac{{{n}}}{{{d}}}"


def frac(x: F) -> str:
    """An answer fraction, in lowest terms, as a whole number when it is one."""
    if x.denominator == 1:
        return str(x.numerator)
    return ("-" if x < 0 else "") + tf(abs(x.numerator), x.denominator)


def dec(x) -> str:
    """A decimal without trailing zeros or exponent: Decimal('30.0') -> '30'."""
    return format(Decimal(x).normalize(), "f")


def deg(x: int) -> str:
    return rf"{x}^{{\circ}}"


def term(k: int, v: str) -> str:
    return v if k == 1 else f"{k} {v}"


def expr(*terms: tuple[int, str]) -> str:
    """A linear expression from (coefficient, letter) pairs: expr((3, 'x'), (-2, 'y')) = '3 x-2 y'."""
    out = ""
    for k, v in terms:
        if k != 0:
            sign = "-" if k < 0 else ("+" if out else "")
            out += sign + (term(abs(k), v) if v else str(abs(k)))
    return out or "0"


def positive(x):
    """A student's answer only where the buggy procedure gives a sensible (positive) one."""
    return x if x > 0 else None


# --------------------------------------------------------------------------- templates

@dataclass(frozen=True)
class Template:
    subject: str  # SubjectName
    construct: str  # ConstructName
    draw: Callable[[random.Random], dict]  # the question's numbers
    question: Callable  # numbers -> QuestionText
    correct: Callable  # numbers -> the right answer's value
    slip: Callable  # numbers -> a careless wrong answer that no misconception explains
    # (MisconceptionName, buggy procedure): the value a student with that misconception gives, or
    # None where the procedure does not apply to these numbers. A name shared by several
    # templates is one misconception (one id).
    misconceptions: tuple[tuple[str, Callable], ...]
    fmt: Callable = str  # value -> answer LaTeX; a procedure may return a ready string ('3.450')


def draw_fractions(r):
    # proper fractions in lowest terms, as a question would print them
    b, d = r.sample(range(2, 10), 2)
    a, c = (r.choice([n for n in range(1, m) if gcd(n, m) == 1]) for m in (b, d))
    return dict(a=a, b=b, c=c, d=d)


def draw_decimal(r):
    return dict(d=r.randint(0, 20) + Decimal(r.randint(1, 99)) / 100, p=r.choice([10, 100, 1000]))


def draw_rounding(r):
    # hundredths digit >= 5 so the tenths digit rounds up (the interesting case); tenths <= 8
    # so it never carries into the units
    w, t, h, u = r.randint(0, 20), r.randint(0, 8), r.randint(5, 9), r.randint(0, 9)
    return dict(x=Decimal(f"{w}.{t}{h}{u}"), w=w, t=t, h=h, u=u)


def percent_draw(percents):
    # amounts are multiples of 20, so a multiple-of-5 percentage of them is a whole number
    return lambda r: dict(n=20 * r.randint(1, 20), p=r.choice(percents))


def rectangle(r):
    l, w = r.sample(range(2, 16), 2)
    return dict(l=max(l, w), w=min(l, w))


# Misconceptions that several templates share (one name, one id).
SUBTRACTS_ONE = "Subtracts only one of the given angles when finding a missing angle"
ADDS_ANGLES = "Adds the given angles instead of finding the missing angle"
ADDS_PRODUCT = "Adds rather than multiplies when asked for a product"
LEFT_TO_RIGHT = "Carries out operations from left to right regardless of priority order"
ADDS_POWER = "Adds the power to the base"
PERIMETER_AREA = "Confuses perimeter and area"

# ConstructId and SubjectId follow the order below: append new templates at the end.
TEMPLATES = [
    Template(
        "Adding and Subtracting Fractions", "Add proper fractions with different denominators",
        draw_fractions,
        question=lambda q: rf"\( {tf(q.a, q.b)}+{tf(q.c, q.d)}= \)",
        correct=lambda q: F(q.a, q.b) + F(q.c, q.d),
        slip=lambda q: F(q.a * q.d + q.c * q.b + 1, q.b * q.d),
        fmt=frac,
        misconceptions=(
            ("Adds the numerators and the denominators when adding fractions", lambda q: F(q.a + q.c, q.b + q.d)),
            ("Finds a common denominator but does not change the numerators", lambda q: F(q.a + q.c, q.b * q.d)),
            ("Multiplies the fractions when asked to add them", lambda q: F(q.a * q.c, q.b * q.d)),
            ("Adds the numerators and keeps the larger denominator", lambda q: F(q.a + q.c, max(q.b, q.d))),
        )),
    Template(
        "Dividing Fractions", "Divide proper fractions in the form: Fraction ÷ Fraction",
        draw_fractions,
        question=lambda q: rf"\( {tf(q.a, q.b)} \div {tf(q.c, q.d)}= \)",
        correct=lambda q: F(q.a * q.d, q.b * q.c),
        slip=lambda q: F(q.a * q.d + 1, q.b * q.c),
        fmt=frac,
        misconceptions=(
            ("Multiplies rather than divides when dividing fractions", lambda q: F(q.a * q.c, q.b * q.d)),
            ("Uses the reciprocal of the first fraction instead of the second when dividing", lambda q: F(q.b * q.c, q.a * q.d)),
            ("Takes the reciprocal of both fractions before multiplying", lambda q: F(q.b * q.d, q.a * q.c)),
        )),
    Template(
        "Adding and Subtracting Negative Numbers", "Subtract a negative integer from a negative integer",
        lambda r: dict(zip("ab", r.sample(range(1, 16), 2))),
        question=lambda q: rf"\( -{q.a}-(-{q.b})= \)",
        correct=lambda q: q.b - q.a,
        slip=lambda q: q.b - q.a + 1,
        misconceptions=(
            ("Thinks subtracting a negative makes the answer more negative", lambda q: -q.a - q.b),
            ("Ignores the negative signs when subtracting", lambda q: q.a - q.b),
            ("Thinks two negative signs make the whole calculation positive", lambda q: q.a + q.b),
        )),
    Template(
        "Multiplying and Dividing Negative Numbers", "Multiply two negative integers",
        lambda r: dict(a=r.randint(2, 12), b=r.randint(2, 12)),
        question=lambda q: rf"\( (-{q.a}) \times(-{q.b})= \)",
        correct=lambda q: q.a * q.b,
        slip=lambda q: q.a * (q.b + 1),  # a misremembered times-table fact
        misconceptions=(
            ("Believes multiplying two negatives gives a negative answer", lambda q: -q.a * q.b),
            (ADDS_PRODUCT, lambda q: -q.a - q.b),
            ("Adds the numbers instead of multiplying and makes the answer positive", lambda q: q.a + q.b),
        )),
    Template(
        "BIDMAS", "Use the order of operations to carry out calculations involving multiplication and addition",
        lambda r: dict(a=r.randint(2, 9), b=r.randint(2, 9), c=r.randint(2, 9), d=r.randint(2, 9)),
        question=lambda q: rf"\( {q.a} \times {q.b}+{q.c} \times {q.d}= \)",
        correct=lambda q: q.a * q.b + q.c * q.d,
        slip=lambda q: q.a * q.b + q.c * (q.d + 1),
        misconceptions=(
            (LEFT_TO_RIGHT, lambda q: (q.a * q.b + q.c) * q.d),
            ("Believes addition comes before multiplication", lambda q: q.a * (q.b + q.c) * q.d),
            (ADDS_PRODUCT, lambda q: q.a + q.b + q.c + q.d),
        )),
    Template(
        "BIDMAS", "Use the order of operations to carry out calculations involving powers",
        lambda r: dict(a=r.randint(2, 9), b=r.randint(2, 9)),
        question=lambda q: rf"\( {q.a} \times {q.b}^{{2}}= \)",
        correct=lambda q: q.a * q.b ** 2,
        slip=lambda q: q.a * (q.b ** 2 + 1),
        misconceptions=(
            (LEFT_TO_RIGHT, lambda q: (q.a * q.b) ** 2),
            ("Mixes up squaring and multiplying by 2 or doubling", lambda q: q.a * q.b * 2),
            (ADDS_POWER, lambda q: q.a * (q.b + 2)),
        )),
    Template(
        "Multiplying and Dividing with Decimals", "Multiply a decimal by 10, 100 or 1000",
        draw_decimal,
        question=lambda q: rf"\( {dec(q.d)} \times {q.p}= \)",
        correct=lambda q: q.d * q.p,
        slip=lambda q: q.d * q.p + 1,
        fmt=dec,
        misconceptions=(
            ("Thinks that multiplying by 10, 100 or 1000 adds zeros to the end of a decimal", lambda q: dec(q.d) + "0" * (len(str(q.p)) - 1)),
            ("Divides instead of multiplies when multiplying by a power of 10", lambda q: q.d / q.p),
            ("Moves the decimal point one place too many when multiplying by a power of 10", lambda q: q.d * q.p * 10),
            ("Multiplies the whole number part by the power of 10 but leaves the decimal part unchanged", lambda q: int(q.d) * q.p + q.d % 1),
        )),
    Template(
        "Adding and Subtracting with Decimals", "Add decimals with a different number of decimal places",
        lambda r: dict(w1=r.randint(1, 9), t=r.randint(1, 9), w2=r.randint(0, 9), u=r.choice([n for n in range(11, 100) if n % 10])),
        question=lambda q: rf"\( {q.w1}.{q.t}+{q.w2}.{q.u}= \)",
        correct=lambda q: Decimal(f"{q.w1}.{q.t}") + Decimal(f"{q.w2}.{q.u}"),
        slip=lambda q: Decimal(f"{q.w1}.{q.t}") + Decimal(f"{q.w2}.{q.u}") + 1,
        fmt=dec,
        misconceptions=(
            ("Adds the digits after the decimal point as if they were whole numbers", lambda q: f"{q.w1 + q.w2}.{q.t + q.u}"),
            ("Lines up the digits from the right instead of lining up the decimal points", lambda q: Decimal(10 * q.w1 + q.t + 100 * q.w2 + q.u) / 100),
            ("Ignores the decimal points and adds the numbers as whole numbers", lambda q: 10 * q.w1 + q.t + 100 * q.w2 + q.u),
        )),
    Template(
        "Basic Angle Facts (straight line, opposite, around a point, etc)", "Find missing angles on a straight line",
        lambda r: dict(a=r.randint(15, 85)),
        question=lambda q: rf"Two angles lie on a straight line. One of them is \( {deg(q.a)} \). What is the size of the other angle?",
        correct=lambda q: 180 - q.a,
        slip=lambda q: 190 - q.a,
        fmt=deg,
        misconceptions=(
            ("Believes angles on a straight line add to 360 degrees", lambda q: 360 - q.a),
            ("Believes angles on a straight line add to 90 degrees", lambda q: 90 - q.a),
            ("Believes angles on a straight line add to 100 degrees", lambda q: 100 - q.a),
            ("Thinks adjacent angles are equal", lambda q: q.a),
        )),
    Template(
        "Basic Angle Facts (straight line, opposite, around a point, etc)", "Find missing angles around a point",
        lambda r: dict(a=r.randint(30, 80), b=r.randint(30, 80)),
        question=lambda q: rf"Three angles meet at a point. Two of them are \( {deg(q.a)} \) and \( {deg(q.b)} \). What is the size of the third angle?",
        correct=lambda q: 360 - q.a - q.b,
        slip=lambda q: 350 - q.a - q.b,
        fmt=deg,
        misconceptions=(
            ("Believes angles around a point sum to 180 degrees", lambda q: 180 - q.a - q.b),
            (ADDS_ANGLES, lambda q: q.a + q.b),
            (SUBTRACTS_ONE, lambda q: 360 - q.a),
        )),
    Template(
        "Angles in Triangles", "Find missing angles in a triangle",
        lambda r: dict(a=r.randint(20, 80), b=r.randint(20, 80)),
        question=lambda q: rf"Two angles in a triangle are \( {deg(q.a)} \) and \( {deg(q.b)} \). What is the size of the third angle?",
        correct=lambda q: 180 - q.a - q.b,
        slip=lambda q: 170 - q.a - q.b,
        fmt=deg,
        misconceptions=(
            ("Believes angles in a triangle sum to 360 degrees", lambda q: 360 - q.a - q.b),
            (ADDS_ANGLES, lambda q: q.a + q.b),
            (SUBTRACTS_ONE, lambda q: 180 - q.a),
            ("Assumes the missing angle in a triangle equals one of the given angles", lambda q: q.a),
        )),
    Template(
        "Percentages of an Amount", "Calculate a percentage of an amount mentally where the percent is a multiple of 5",
        percent_draw([5, 15, 20, 25, 30, 40, 60, 75]),
        question=lambda q: rf"What is \( {q.p} \% \) of \( {q.n} \) ?",
        correct=lambda q: q.p * q.n // 100,
        slip=lambda q: q.p * q.n // 100 + 5,
        misconceptions=(
            ("Subtracts the percentage from the amount instead of finding the percentage of it", lambda q: positive(q.n - q.p)),
            ("Divides the amount by the percentage value to find a percentage of an amount", lambda q: q.n // q.p if q.n % q.p == 0 else None),
            ("Finds 10% of the amount whatever the percentage asked for", lambda q: q.n // 10 if q.n % 10 == 0 else None),
            ("Finds the amount left after a decrease instead of the percentage of the amount", lambda q: q.n - q.p * q.n // 100),
            ("Multiplies the percentage by the amount without dividing by 100", lambda q: q.p * q.n),
        )),
    Template(
        "Percentage Increase and Decrease", "Increase an amount by a percentage",
        percent_draw([5, 10, 15, 20, 25, 30, 40, 50]),
        question=lambda q: rf"Increase \( £ {q.n} \) by \( {q.p} \% \)",
        correct=lambda q: q.n + q.p * q.n // 100,
        slip=lambda q: q.n + q.p * q.n // 100 + 10,
        fmt=lambda v: rf"£ {v}",
        misconceptions=(
            ("Finds the percentage of the amount but does not add it on when increasing", lambda q: q.p * q.n // 100),
            ("Increases by the percentage as a number instead of a percentage of the amount", lambda q: q.n + q.p),
            ("Subtracts the percentage instead of adding it when increasing by a percentage", lambda q: q.n - q.p * q.n // 100),
        )),
    Template(
        "Squares, Cubes, etc", "Calculate the square or cube of a number",
        lambda r: dict(a=r.randint(2, 12), n=r.choice([2, 3])),
        question=lambda q: rf"\( {q.a}^{{{q.n}}}= \)",
        correct=lambda q: q.a ** q.n,
        slip=lambda q: q.a ** q.n + q.a,
        misconceptions=(
            ("Multiplies the base by the power instead of raising it to the power", lambda q: q.a * q.n),
            (ADDS_POWER, lambda q: q.a + q.n),
            ("Mixes up square numbers and cube numbers", lambda q: q.a ** (5 - q.n)),
            ("Writes the power as a digit on the end of the base", lambda q: int(f"{q.a}{q.n}")),
        )),
    Template(
        "Laws of Indices", "Multiply powers with the same base",
        lambda r: dict(b=r.choice([2, 3, 5, 7]), m=r.randint(4, 9), n=r.randint(2, 3)),
        question=lambda q: rf"Write as a single power of \( {q.b} \): \( {q.b}^{{{q.m}}} \times {q.b}^{{{q.n}}} \)",
        correct=lambda q: (q.b, q.m + q.n),
        slip=lambda q: (q.b, q.m + q.n + 1),
        fmt=lambda v: rf"{v[0]}^{{{v[1]}}}",
        misconceptions=(
            ("Multiplies the powers when multiplying numbers with the same base", lambda q: (q.b, q.m * q.n)),
            ("Multiplies the bases as well as adding the powers", lambda q: (q.b * q.b, q.m + q.n)),
            ("Subtracts the powers when multiplying numbers with the same base", lambda q: (q.b, q.m - q.n)),
            ("Multiplies both the bases and the powers when multiplying numbers with the same base", lambda q: (q.b * q.b, q.m * q.n)),
        )),
    Template(
        "Area of Simple Shapes", "Calculate the area of a rectangle where the dimensions are given in the same units",
        rectangle,
        question=lambda q: rf"A rectangle has length \( {q.l} \mathrm{{~cm}} \) and width \( {q.w} \mathrm{{~cm}} \). What is its area?",
        correct=lambda q: q.l * q.w,
        slip=lambda q: q.l * (q.w + 1),
        fmt=lambda v: rf"{dec(v)} \mathrm{{~cm}}^{{2}}",
        misconceptions=(
            (PERIMETER_AREA, lambda q: 2 * (q.l + q.w)),
            ("Adds when calculating area instead of multiplying", lambda q: q.l + q.w),
            ("Uses the formula for the area of a triangle to find the area of a rectangle", lambda q: Decimal(q.l * q.w) / 2),
            ("Squares the longest side to find the area of a rectangle", lambda q: q.l ** 2),
        )),
    Template(
        "Perimeter", "Calculate the perimeter of a rectangle where the dimensions are given in the same units",
        rectangle,
        question=lambda q: rf"A rectangle has length \( {q.l} \mathrm{{~cm}} \) and width \( {q.w} \mathrm{{~cm}} \). What is its perimeter?",
        correct=lambda q: 2 * (q.l + q.w),
        slip=lambda q: 2 * (q.l + q.w) + 2,
        fmt=lambda v: rf"{v} \mathrm{{~cm}}",
        misconceptions=(
            (PERIMETER_AREA, lambda q: q.l * q.w),
            ("When calculating perimeter, only adds the marked lengths", lambda q: q.l + q.w),
            ("Misses out one side when calculating perimeter", lambda q: 2 * q.l + q.w),
            ("Thinks all four sides of a rectangle are equal", lambda q: 4 * q.l),
        )),
    Template(
        "Rounding to Decimal Places", "Round numbers to one decimal place",
        draw_rounding,
        question=lambda q: rf"What is \( {q.x} \) rounded to \( 1 \) decimal place?",
        correct=lambda q: q.x.quantize(Decimal("0.1"), ROUND_HALF_UP),
        slip=lambda q: q.x.quantize(Decimal("0.1"), ROUND_HALF_UP) + Decimal("0.1"),
        misconceptions=(
            ("Rounds down instead of up", lambda q: q.x.quantize(Decimal("0.1"), ROUND_DOWN)),
            ("Rounds to the wrong degree of accuracy (rounds too much)", lambda q: q.x.quantize(Decimal(1), ROUND_HALF_UP)),
            ("Rounds to the wrong degree of accuracy (rounds too little)", lambda q: q.x.quantize(Decimal("0.01"), ROUND_HALF_UP)),
            ("When rounding up, changes the rounded digit but keeps the digits after it", lambda q: f"{q.w}.{q.t + 1}{q.h}{q.u}"),
        )),
    Template(
        "Simplifying Expressions by Collecting Like Terms", "Simplify algebraic expressions by collecting like terms",
        lambda r: (lambda a: dict(a=a, c=r.randint(1, a - 1), b=r.randint(2, 9)))(r.randint(3, 9)),
        question=lambda q: rf"Simplify, if possible: \( {expr((q.a, 'x'), (q.b, 'y'), (-q.c, 'x'))} \)",
        correct=lambda q: expr((q.a - q.c, "x"), (q.b, "y")),
        slip=lambda q: expr((q.a - q.c + 1, "x"), (q.b, "y")),
        misconceptions=(
            ("When collecting like terms, treats subtractions as if they are additions", lambda q: expr((q.a + q.c, "x"), (q.b, "y"))),
            ("Believes you can combine unlike terms into a single term", lambda q: term(q.a - q.c + q.b, "x y")),
            ("Leaves out terms that have no like term when simplifying", lambda q: term(q.a - q.c, "x")),
            ("Subtracts from the wrong term when collecting like terms", lambda q: expr((q.a, "x"), (q.b - q.c, "y"))),
        )),
    Template(
        "Expanding Single Brackets", "Multiply a single term over a bracket where the term outside is a number",
        lambda r: dict(a=r.randint(2, 9), b=r.randint(1, 9)),
        question=lambda q: rf"Expand: \( {q.a}(x+{q.b}) \)",
        correct=lambda q: expr((q.a, "x"), (q.a * q.b, "")),
        slip=lambda q: expr((q.a, "x"), (q.a * q.b + q.a, "")),
        misconceptions=(
            ("Only multiplies the first term in the expansion of a bracket", lambda q: expr((q.a, "x"), (q.b, ""))),
            ("Only multiplies the second term in the expansion of a bracket", lambda q: expr((1, "x"), (q.a * q.b, ""))),
            ("Adds the number outside the bracket instead of multiplying", lambda q: expr((1, "x"), (q.a + q.b, ""))),
        )),
]

# In the mapping but used by no question, like most of Kaggle's 2,587 misconceptions.
UNUSED_MISCONCEPTIONS = [
    "Confuses the radius and the diameter",
    "Believes the mean is the middle number",
    "Confuses the median and the mode",
    "Thinks a kite has two pairs of parallel sides",
    "Confuses the x and y axes",
    "Does not understand that a probability of 1 represents something that is certain",
    "Believes the gradient of a line is given by its y-intercept",
]


# --------------------------------------------------------------------------- generation

def misconception_ids() -> dict[str, int]:
    """MisconceptionName -> id, in definition order (a name shared by templates is one id)."""
    ids: dict[str, int] = {}
    for t in TEMPLATES:
        for name, _ in t.misconceptions:
            ids.setdefault(name, len(ids))
    for name in UNUSED_MISCONCEPTIONS:
        assert name not in ids, name
        ids[name] = len(ids)
    return ids


def pick_held_out(rng: random.Random, candidates: list[str], k: int,
                  taken: list[str] = ()) -> list[str]:
    """Up to k misconceptions to keep out of ordinary train questions, never so many that a
    template has fewer than MIN_TRAIN_MISCONCEPTIONS left for its wrong answers (`taken`: ones
    already held out by an earlier pick)."""
    left = [sum(name not in taken for name, _ in t.misconceptions) for t in TEMPLATES]
    picked = []
    for name in rng.sample(candidates, len(candidates)):
        homes = [i for i, t in enumerate(TEMPLATES) if name in dict(t.misconceptions)]
        if len(picked) < k and all(left[i] > MIN_TRAIN_MISCONCEPTIONS for i in homes):
            picked.append(name)
            for i in homes:
                left[i] -= 1
    return picked


def answer_text(t: Template, value) -> str:
    return r"\( " + (value if isinstance(value, str) else t.fmt(value)) + r" \)"


def make_question(rng, t: Template, ids: dict[str, int], held_out: list[str], must: str | None):
    """(QuestionText, correct letter, [(answer text, misconception id or '')] for A-D).

    Redraws the numbers until the correct answer and three wrong ones are distinct strings
    (a buggy procedure can coincide with the right answer or with another for some numbers).
    """
    for _ in range(MAX_DRAWS):
        q = SimpleNamespace(**t.draw(rng))
        correct = answer_text(t, t.correct(q))
        wrong: dict[str, int] = {}  # answer text -> misconception id; the first procedure wins
        for name, buggy in t.misconceptions:
            value = buggy(q) if name == must or name not in held_out else None
            if value is not None:
                wrong.setdefault(answer_text(t, value), ids[name])
        wrong.pop(correct, None)
        forced = [text for text, m in wrong.items() if m == ids.get(must)]
        others = [text for text in wrong if text not in forced]
        slip = answer_text(t, t.slip(q)) if rng.random() < SLIP_RATE else None
        k = 3 - len(forced) - (slip is not None)
        if (must is not None and not forced) or len(others) < k or slip == correct or slip in wrong:
            continue
        options = [(correct, "")] + [(text, wrong[text]) for text in forced + rng.sample(others, k)]
        if slip is not None:
            options.append((slip, ""))  # a careless error: no misconception, like Kaggle's blanks
        rng.shuffle(options)
        letter = LETTERS[[text for text, _ in options].index(correct)]
        return t.question(q), letter, options
    raise RuntimeError(f"template {t.construct!r}: no distinct answers in {MAX_DRAWS} draws")


def generate(n_train: int, n_test: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = random.Random(seed)
    ids = misconception_ids()
    assert len(ids) >= SUBMISSION_TOP_K, "sample_submission lists the first 25 ids"
    used = [name for name in ids if name not in UNUSED_MISCONCEPTIONS]
    held_out = pick_held_out(rng, used, max(MIN_TEST_ONLY, round(TEST_ONLY_SHARE * len(used))))
    assert len(held_out) >= MIN_TEST_ONLY, "too few templates with a spare misconception"
    # each held-out misconception gets a test question of its own (where n_test allows), so
    # test really contains misconceptions that train never shows
    forced_at = dict(zip(rng.sample(range(n_test), min(n_test, len(held_out))), held_out))
    # a long tail, as in Kaggle's train: a few constructs have only a handful of train
    # questions, so their misconceptions are rare and some CV folds hold misconceptions no other
    # fold has (the "unseen" rows of evaluate.py)
    rare = set(rng.sample(range(len(TEMPLATES)), RARE_TEMPLATES))
    train_weights = [RARE_WEIGHT if i in rare else 1.0 for i in range(len(TEMPLATES))]
    subject_ids: dict[str, int] = {}
    for t in TEMPLATES:
        subject_ids.setdefault(t.subject, 100 + len(subject_ids))

    train, test, submission, labels = [], [], [], []
    top_ids = " ".join(str(i) for i in range(SUBMISSION_TOP_K))
    for qid in range(n_train + n_test):
        is_test = qid >= n_train
        must = forced_at.get(qid - n_train) if is_test else None
        if must:
            t = next(t for t in TEMPLATES if must in dict(t.misconceptions))
        else:
            t = rng.choice(TEMPLATES) if is_test else rng.choices(TEMPLATES, train_weights)[0]
        text, letter, options = make_question(rng, t, ids, [] if is_test else held_out, must)
        row = [qid, 1000 + TEMPLATES.index(t), t.construct, subject_ids[t.subject], t.subject,
               letter, text, *[a for a, _ in options]]
        if qid < n_train:
            train.append(row + [m for _, m in options])
            continue
        test.append(row)
        for x, (_, m) in zip(LETTERS, options):
            if x != letter:
                submission.append([f"{qid}_{x}", top_ids])
                labels.append([f"{qid}_{x}", m])
    label_columns = ["QuestionId_Answer", "MisconceptionId"]
    return {
        "train.csv": pd.DataFrame(train, columns=TRAIN_COLUMNS),
        "test.csv": pd.DataFrame(test, columns=TEST_COLUMNS),
        "misconception_mapping.csv": pd.DataFrame(
            [[i, name] for name, i in ids.items()], columns=MAPPING_COLUMNS),
        "sample_submission.csv": pd.DataFrame(submission, columns=label_columns),
        "test_labels.csv": pd.DataFrame(labels, columns=label_columns),
    }


@click.command()
@click.option("--out-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the CSVs into (created if missing).")
@click.option("--n-train", default=400, show_default=True, type=click.IntRange(min=1),
              help="Number of train questions.")
@click.option("--n-test", default=60, show_default=True, type=click.IntRange(min=1),
              help="Number of test questions.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generator.")
def main(out_dir: Path, n_train: int, n_test: int, seed: int):
    """Write a synthetic Eedi dataset in Kaggle's schema into --out-dir.

    Writes train.csv, test.csv, misconception_mapping.csv and sample_submission.csv (as Kaggle
    names them) and test_labels.csv (QuestionId_Answer, MisconceptionId: the true misconception
    of each wrong answer of test, empty for none) so the sample's test can be scored.
    Same arguments, byte-identical files.
    """
    setup_logging()
    with step_timer("make_sample", n_train=n_train, n_test=n_test, seed=seed) as record:
        tables = generate(n_train, n_test, seed)
        for name, df in tables.items():
            write_csv(df, out_dir / name)
            log.info("wrote %s (%d rows)", out_dir / name, len(df))
        record["misconceptions"] = len(tables["misconception_mapping.csv"])


if __name__ == "__main__":
    main()
