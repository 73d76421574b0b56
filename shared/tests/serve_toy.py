"""A toy model behind mlcraft.serve, for the tests (also run as a real uvicorn process)."""

from mlcraft.errors import UserInputError
from mlcraft.serve import ServedModel, create_app


def predict(rows):
    if any(row["age"] > 150 for row in rows):
        raise UserInputError("age over 150")
    return [
        {"probability": min(1.0, row["age"] / 100), "label": int(row["age"] >= 50)} for row in rows
    ]


MODEL = ServedModel(
    name="toy",
    fields={"age": (float, ...), "city": (str | None, None)},
    predict=predict,
    metadata={"threshold": 0.5, "git_sha": "abc123"},
    max_rows=4,
)
app = create_app(MODEL, max_bytes=2_000)
