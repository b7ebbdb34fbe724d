"""Words: a page of words with their right and wrong answers, and one word with its groups."""

from __future__ import annotations

import json
import math
from typing import Any

from .base import APIError, APIHandler
from .pagination import limit_offset, page_of


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: a JSON number a float cannot hold
        raise ValueError(f"a number in a word's parts is out of range: {text[:40]}")
    return value


def word_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kanji": row["kanji"],
        "romaji": row["romaji"],
        "english": row["english"],
        # a number no float can hold is an error, never written as something else (orjson: null)
        "parts": json.loads(row["parts"], parse_float=finite_float),
        "correct_count": row["correct_count"],
        "wrong_count": row["wrong_count"],
    }


class WordsHandler(APIHandler):
    async def get(self) -> None:
        params = self.query_params("words_query")
        rows = await self.fetch("list_words", params["sort_by"], params["order"], *limit_offset(params))
        self.write_json(200, page_of(rows, params, word_json))


class WordHandler(APIHandler):
    async def get(self, word_id_text: str) -> None:
        word_id = self.path_id(word_id_text, "word")
        row = await self.fetchrow("get_word", word_id)
        if row is None:
            raise APIError(404, f"word {word_id} not found")
        self.write_json(200, {"word": {**word_json(row), "groups": json.loads(row["groups"])}})
