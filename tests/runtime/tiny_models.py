"""Builders for tiny, randomly initialised models saved exactly as real ones are (safetensors
via ``save_pretrained``, tokenizers trained on the spot and saved as ``PreTrainedTokenizerFast``,
ONNX graphs built with ``onnx.helper``), plus image bytes for the image tests: real PNG, JPEG
and WebP files, and hand-made hostile ones (a decompression-bomb header, a truncated JPEG).

Plain functions, so any test package can import them; each build takes well under a second.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

SENTENCES = [
    "the movie was great and a lot of fun",
    "the food was awful and the soup was cold",
    "i loved every minute of this wonderful film",
    "terrible service, we will never come back again",
    "what a wonderful day at the beach with friends",
    "this is the worst thing i have ever bought",
    "translate english to german: the house is wonderful",
    "das haus ist wunderbar und die katze sitzt auf der matte",
]
TEXT_LABELS = ("negative", "positive")
IMAGE_LABELS = ("cat", "dog", "bird")


def _fast_tokenizer(tokenizer: Any, max_length: int, **special: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_length, **special)


def wordpiece_tokenizer(max_length: int = 32) -> Any:
    """A BERT-style WordPiece tokenizer trained on ``SENTENCES`` ([CLS] text [SEP])."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(SENTENCES, trainers.WordPieceTrainer(vocab_size=200,
                                                                        special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return _fast_tokenizer(tokenizer, max_length, unk_token="[UNK]", pad_token="[PAD]",
                           cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def t5_tokenizer(max_length: int = 32) -> Any:
    """A T5-style BPE tokenizer (<pad>=0, </s>=1, <unk>=2; text then </s>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(SENTENCES, trainers.BpeTrainer(
        vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                             special_tokens=[("</s>", 1)])
    return _fast_tokenizer(tokenizer, max_length, unk_token="<unk>", pad_token="<pad>",
                           eos_token="</s>")


def _labels(names: tuple[str, ...]) -> dict[str, Any]:
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}}


def build_text_classifier(root: Path, *, seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) ``BertForSequenceClassification`` with labels negative/positive."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = wordpiece_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                        initializer_range=0.5, **_labels(TEXT_LABELS))
    BertForSequenceClassification(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def build_seq2seq(root: Path, *, seed: int = 0) -> Path:
    """A 2-layer T5 (d_model 32) ``T5ForConditionalGeneration`` with a BPE tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = t5_tokenizer()
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=16, num_layers=2,
                      num_decoder_layers=2, num_heads=2, decoder_start_token_id=0,
                      pad_token_id=0, eos_token_id=1, initializer_factor=1.0)
    T5ForConditionalGeneration(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def build_image_classifier(root: Path, *, seed: int = 0) -> Path:
    """A 2-layer ViT (32x32 input, patch 8) ``ViTForImageClassification`` with its processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    torch.manual_seed(seed)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, initializer_range=0.5,
                       **_labels(IMAGE_LABELS))
    ViTForImageClassification(config).save_pretrained(root)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(root)
    return root


def onnx_image_graph(*, size: int | None = 16, batch: int | None = None, classes: int = 3,
                     seed: int = 0, layout: str = "NCHW") -> bytes:
    """Conv(3->4, 3x3) -> ReLU -> global average pool -> Gemm(4->classes): logits, opset 17.

    ``size``/``batch`` ``None`` make those dimensions dynamic; ``layout="NHWC"`` takes
    channels-last input (transposed first, so the same seed gives the same classifier)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    tensors = {
        "conv_w": rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, (4,)).astype(np.float32),
        "fc_w": rng.normal(0, 2, (classes, 4)).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, (classes,)).astype(np.float32),
    }
    first = "pixel_values"
    nodes = []
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["pixel_values"], ["nchw"], perm=[0, 3, 1, 2]))
        first = "nchw"
    nodes += [
        helper.make_node("Conv", [first, "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    side: int | str = size if size is not None else "side"
    rows: int | str = batch if batch is not None else "batch"
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                       [rows, side, side, 3] if layout == "NHWC" else [rows, 3, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [rows, classes])],
        [numpy_helper.from_array(array, name) for name, array in tensors.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def build_onnx_image_classifier(root: Path, *, manifest: dict[str, Any] | None = None,
                                **graph: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.onnx").write_bytes(onnx_image_graph(**graph))
    if manifest is not None:
        (root / "aiaas.json").write_text(json.dumps(manifest))
    return root


def picture(fmt: str, size: tuple[int, int] = (48, 40), *, seed: int = 0, mode: str = "RGB") -> bytes:
    """A deterministic gradient-and-noise picture encoded as ``fmt`` (PNG, JPEG, WEBP)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    tint = rng.uniform(0, 1, (1, 1, 3))
    pixels = (x * tint + y * (1 - tint) + rng.normal(0, 20, (height, width, 3))).clip(0, 255)
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` RGB pixels, with one tiny IDAT: the file
    is a few dozen bytes; decoding it would need width*height*3 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tar_gz(root: Path) -> bytes:
    """The directory as a tar.gz upload body (members under the directory's name)."""
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root, arcname=root.name)
    return buffer.getvalue()


TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_causal_lm(root: Path, *, sliding_window: int | None = None, template: bool = True) -> Path:
    """A randomly initialised Llama (or, with a sliding window, Mistral) with a byte-level BPE
    tokenizer trained here, saved as transformers saves real ones (safetensors)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        PreTrainedTokenizerFast,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = ["the cat sat on the mat", "hello world, how are you today?", "Grüße 🙂 東京"] * 4
    raw.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>",
                                        bos_token="<|endoftext|>", model_max_length=256)
    if template:
        tokenizer.chat_template = TEMPLATE
    sizes = {"vocab_size": raw.get_vocab_size(), "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 256, "eos_token_id": raw.token_to_id("<|im_end|>")}
    torch.manual_seed(0)
    if sliding_window:
        model: Any = MistralForCausalLM(MistralConfig(**sizes, sliding_window=sliding_window))
    else:
        model = LlamaForCausalLM(LlamaConfig(**sizes))
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root
