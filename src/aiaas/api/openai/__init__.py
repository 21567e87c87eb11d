"""The OpenAI-compatible surface under ``/v1``: ``router`` (include it) and
``OpenAIErrorShape`` (the middleware that gives pre-route errors on ``/v1`` OpenAI's shape; add it
outside ``RequestContext``)."""

from aiaas.api.openai.errors import OpenAIErrorShape
from aiaas.api.openai.router import router

__all__ = ["OpenAIErrorShape", "router"]
