"""Tokenisation robustness: seeded text perturbations, applied to a fixed test subsample.

Each perturbation keeps the meaning for a human reader; a robust model keeps its prediction.
"""

from __future__ import annotations

import random
import re

NUMBER_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine", "10": "ten", "12": "twelve", "14": "fourteen",
}  # fmt: skip
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "i": "і"}  # Cyrillic
EMOJI = ["😍", "👗", "✨", "🙌", "😊", "💕"]
# Common review words in Spanish: a crude code-switching probe, not a translation.
SPANISH = {
    "love": "amo", "dress": "vestido", "beautiful": "hermoso", "size": "talla", "small": "pequeño",
    "large": "grande", "color": "color", "fit": "ajuste", "great": "genial", "very": "muy",
    "and": "y", "the": "el", "but": "pero", "not": "no", "top": "blusa", "shirt": "camisa",
    "pretty": "bonita", "soft": "suave", "fabric": "tela", "perfect": "perfecto", "cute": "lindo",
    "comfortable": "cómodo", "wear": "usar", "it": "lo", "is": "es", "this": "este",
    "quality": "calidad", "returned": "devuelto", "sweater": "suéter", "jeans": "vaqueros",
}  # fmt: skip

_WORD = re.compile(r"[A-Za-z]+")


def digits_to_words(text: str, rng: random.Random) -> str:
    text = text.replace("10/10", "ten out of ten")
    return re.sub(r"\b\d+\b", lambda m: NUMBER_WORDS.get(m.group(), m.group()), text)


def words_to_digits(text: str, rng: random.Random) -> str:
    inverse = {v: k for k, v in NUMBER_WORDS.items()}
    return re.sub(
        r"\b(" + "|".join(inverse) + r")\b", lambda m: inverse[m.group().lower()], text, flags=re.I
    )


def repeated_letters(text: str, rng: random.Random) -> str:
    # "so cute" -> "sooooo cute": stretch the last vowel of ~1 in 4 words.
    def stretch(m):
        word = m.group()
        if len(word) < 3 or rng.random() > 0.25:
            return word
        for i in range(len(word) - 1, -1, -1):
            if word[i] in "aeiouy":
                return word[: i + 1] + word[i] * rng.randint(2, 4) + word[i + 1 :]
        return word

    return _WORD.sub(stretch, text)


def typos(text: str, rng: random.Random) -> str:
    # swap two adjacent inner letters in ~1 in 5 words of length >= 4
    def swap(m):
        word = m.group()
        if len(word) < 4 or rng.random() > 0.2:
            return word
        i = rng.randint(1, len(word) - 3)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]

    return _WORD.sub(swap, text)


def all_caps(text: str, rng: random.Random) -> str:
    return text.upper()


def emoji(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(3):
        words.insert(rng.randint(0, len(words)), rng.choice(EMOJI))
    return " ".join(words)


def urls(text: str, rng: random.Random) -> str:
    return f"{text} https://shop.example.com/p/{rng.randint(10000, 99999)}?ref=rvw_{rng.randint(1, 99)}"


def zero_width(text: str, rng: random.Random) -> str:
    # U+200B inside ~1 in 3 words: invisible to a reader, not to a tokenizer
    def split(m):
        word = m.group()
        if len(word) < 3 or rng.random() > 0.33:
            return word
        i = rng.randint(1, len(word) - 1)
        return word[:i] + "\u200b" + word[i:]

    return _WORD.sub(split, text)


def homoglyphs(text: str, rng: random.Random) -> str:
    return "".join(HOMOGLYPHS[ch] if ch in HOMOGLYPHS and rng.random() < 0.3 else ch for ch in text)


def spanish_words(text: str, rng: random.Random) -> str:
    def swap(m):
        word = m.group()
        spanish = SPANISH.get(word.lower())
        return spanish if spanish else word

    return _WORD.sub(swap, text)


PERTURBATIONS = {
    "digits_to_words": digits_to_words,
    "words_to_digits": words_to_digits,
    "repeated_letters": repeated_letters,
    "typos": typos,
    "all_caps": all_caps,
    "emoji": emoji,
    "urls": urls,
    "zero_width": zero_width,
    "homoglyphs": homoglyphs,
    "spanish_words": spanish_words,
}

# Short strings whose tokenisation the README shows next to the numbers.
SPLIT_EXAMPLES = [
    ("plain", "so cute, size 4, 10/10"),
    ("digits_to_words", "so cute, size four, ten out of ten"),
    ("repeated_letters", "sooooo cuuute"),
    ("typos", "so cuet, szie 4"),
    ("all_caps", "SO CUTE, SIZE 4"),
    ("emoji", "so cute 😍👗"),
    ("urls", "https://shop.example.com/p/12345?ref=rvw_7"),
    ("zero_width", "so cu\u200bte"),
    ("homoglyphs", "sо сutе"),
    ("spanish_words", "muy lindo, talla 4"),
]


def perturb_all(texts: list[str], seed: int) -> dict[str, list[str]]:
    out = {}
    for name, fn in PERTURBATIONS.items():
        rng = random.Random(f"{seed}-{name}")
        out[name] = [fn(t, rng) for t in texts]
    return out


def changed_fraction(original: list[str], perturbed: list[str]) -> float:
    return sum(a != b for a, b in zip(original, perturbed, strict=True)) / max(len(original), 1)
