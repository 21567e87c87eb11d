"""``aiaas embed [MODEL] TEXT...``: embedding vectors, summarised or in full (``--json``)."""

from __future__ import annotations

from typing import Annotated

import typer

from aiaas.cli.common import ApiKeyOption, UrlOption, client
from aiaas.cli.output import out, print_json
from aiaas.cli.results import embedding_table, norm

DEFAULT_MODEL = "all-minilm-l6-v2"


def embed(
    words: Annotated[list[str], typer.Argument(
        metavar="[MODEL] TEXT",
        help=f"Texts to embed. With two or more, a first one naming a model picks that model "
             f"(default {DEFAULT_MODEL}).")],
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="The embedding model (then every argument is a text).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full vectors as JSON.")] = False,
) -> None:
    """Embed texts: each vector's size and norm, or with --json the vectors themselves."""
    texts = list(words)
    with client(url, api_key) as api:
        if model is None:
            model = DEFAULT_MODEL
            if len(texts) > 1 and texts[0] in {known.name for known in api.list_models()}:
                model = texts.pop(0)
        vectors = api.embed(texts, model=model)
    if as_json:
        print_json({"model": model, "embeddings": [
            {"text": text, "dims": len(vector), "norm": norm(vector), "embedding": vector}
            for text, vector in zip(texts, vectors, strict=True)]})
        return
    out.print(f"[bold]{model}[/] · {len(vectors)} text(s)")
    out.print(embedding_table(vectors, texts))
