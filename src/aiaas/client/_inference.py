"""Prediction methods of ``Client`` and ``AsyncClient``: raw predict and the family verbs
(embed, classify, chat, transcribe)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aiaas.client import _calls
from aiaas.client._calls import DEFAULT_CLASSIFIER, DEFAULT_EMBEDDER, Messages, Sampling
from aiaas.client._models import ChatResult, Classification, Prediction, Transcription
from aiaas.client._sending import AsyncSender, SyncSender
from aiaas.client._streams import AsyncChatStream, ChatStream
from aiaas.client._transport import MediaSource, read_classify_inputs, read_media

Record = Mapping[str, float] | Sequence[float]
ClassifyInput = Record | str | bytes | os.PathLike[str]
"""A tabular record, a text, or an image (``os.PathLike``, bytes or a binary file object)."""


class InferenceMethods(SyncSender):
    def predict(self, name: str, inputs: Sequence[Any], *,
                parameters: Mapping[str, Any] | None = None,
                version: int | str | None = None) -> Prediction:
        """Run ``inputs`` (one entry per item) through the model's ``production`` version (or the
        latest), or through ``version`` (a number or an alias)."""
        return self._send(_calls.predict(name, inputs, parameters=parameters, version=version))

    def embed(self, texts: str | Sequence[str], *, model: str = DEFAULT_EMBEDDER) -> list[list[float]]:
        """One embedding per text (a lone string counts as one text)."""
        return self._send(_calls.embed(texts, model=model))

    def classify(self, inputs: ClassifyInput | Sequence[ClassifyInput], *,
                 model: str = DEFAULT_CLASSIFIER, top_k: int | None = None) -> list[Classification]:
        """Classify tabular records (feature name -> number mappings, or value lists in feature
        order), texts (``str``), or images (paths as ``os.PathLike``, bytes or binary file
        objects, uploaded as multipart). A lone record, text or image is one input. ``top_k``:
        how many best labels text and image models list (tabular models take no parameters)."""
        return self._send(_calls.classify(read_classify_inputs(inputs), model=model, top_k=top_k))

    def chat(self, model: str, messages: Messages, *, max_tokens: int | None = None,
             temperature: float | None = None, top_p: float | None = None,
             stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatResult:
        """One answer from a chat model to ``messages`` (``[{"role", "content"}, ...]`` ending
        with the user's; a lone string is one user message). Pass the whole history each turn.
        ``model`` may name a version: ``"name:2"``, ``"name:production"``.
        ``temperature=0`` answers deterministically; ``seed`` fixes sampling otherwise."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        return self._send(_calls.chat(model, messages, sampling))

    def chat_stream(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                    temperature: float | None = None, top_p: float | None = None,
                    stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatStream:
        """Like ``chat``, but the answer arrives as text deltas: iterate the returned
        ``ChatStream``; then read ``.text``, ``.finish_reason`` and ``.usage``. Errors before the
        first token raise here. Use ``with`` (or ``close()``) to stop early."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        events, response = self._open(_calls.chat_stream(model, messages, sampling))
        return ChatStream(response, events, self.base_url)

    def transcribe(self, model: str, audio: MediaSource, *, language: str | None = None,
                   timestamps: bool = False, beam_size: int | None = None) -> Transcription:
        """Transcribe an audio file (WAV, FLAC, MP3, Ogg): a path, its bytes or a binary file
        object, uploaded as is. ``language``: a code such as ``"en"`` (default: detected or the
        model's only one); ``timestamps`` adds per-word times to each segment; ``beam_size``
        1-5 (default 5, as faster-whisper; 1 is greedy and faster)."""
        return self._send(_calls.transcribe(model, read_media(audio, "audio"), language=language,
                                            timestamps=timestamps, beam_size=beam_size))


class AsyncInferenceMethods(AsyncSender):
    async def predict(self, name: str, inputs: Sequence[Any], *,
                      parameters: Mapping[str, Any] | None = None,
                      version: int | str | None = None) -> Prediction:
        return await self._send(_calls.predict(name, inputs, parameters=parameters, version=version))

    async def embed(self, texts: str | Sequence[str], *,
                    model: str = DEFAULT_EMBEDDER) -> list[list[float]]:
        return await self._send(_calls.embed(texts, model=model))

    async def classify(self, inputs: ClassifyInput | Sequence[ClassifyInput], *,
                       model: str = DEFAULT_CLASSIFIER, top_k: int | None = None) -> list[Classification]:
        """See ``Client.classify``; image files are read in a worker thread."""
        items = await asyncio.to_thread(read_classify_inputs, inputs)
        return await self._send(_calls.classify(items, model=model, top_k=top_k))

    async def chat(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                   temperature: float | None = None, top_p: float | None = None,
                   stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatResult:
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        return await self._send(_calls.chat(model, messages, sampling))

    async def chat_stream(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                          temperature: float | None = None, top_p: float | None = None,
                          stop: str | Sequence[str] | None = None,
                          seed: int | None = None) -> AsyncChatStream:
        """See ``Client.chat_stream``: ``stream = await client.chat_stream(...)``, then
        ``async for delta in stream``."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        events, response = await self._open(_calls.chat_stream(model, messages, sampling))
        return AsyncChatStream(response, events, self.base_url)

    async def transcribe(self, model: str, audio: MediaSource, *, language: str | None = None,
                         timestamps: bool = False, beam_size: int | None = None
                         ) -> Transcription:
        """See ``Client.transcribe``; the file is read in a worker thread."""
        media = await asyncio.to_thread(read_media, audio, "audio")
        return await self._send(_calls.transcribe(model, media, language=language,
                                                  timestamps=timestamps, beam_size=beam_size))
