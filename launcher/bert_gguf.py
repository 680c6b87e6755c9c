"""Convert a sentence-transformers BERT model (safetensors + WordPiece vocab) into a GGUF that llama.cpp serves.

llama.cpp's own converter imports torch and transformers; this one needs only `gguf`, `safetensors` and numpy (the
`local` dependency group), and writes what llama.cpp's BERT loader reads:
- hyper-parameters under the `bert.` prefix, non-causal attention, and the pooling of the model's Pooling module;
- tensors renamed by gguf's own TensorNameMap for MODEL_ARCH.BERT (`token_embd`, `blk.N.attn_q`, ...), kept in
  float32 (exact against the safetensors, 87 MiB for all-MiniLM-L6-v2; the pooler and `position_ids` are dropped);
- the WordPiece vocabulary as tokenizer model `bert`: tokens in id order, word-initial tokens marked with a phantom
  space (U+2581) and `##` continuations stripped, as llama.cpp's WPM tokenizer expects; special tokens are CONTROL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_ARCH_NAME = "bert"
PHANTOM_SPACE = "\u2581"
# Tensors a sentence-embedding model does not use (llama.cpp's converter drops the same).
DROPPED = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}


class ConversionError(RuntimeError):
    """The model directory is not a BERT sentence-transformers model this converter understands."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConversionError(f"cannot read {path}: {err}") from None


def pooling_type(model_dir: Path) -> int:
    """gguf.PoolingType of the model's sentence-transformers Pooling module (MEAN when there is none)."""
    import gguf

    modules_file = model_dir / "modules.json"
    modules = _json(modules_file) if modules_file.is_file() else []
    path = next((m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Pooling")), None)
    if path is None:
        return int(gguf.PoolingType.MEAN)
    config = _json(model_dir / path / "config.json")
    if config.get("pooling_mode_cls_token"):
        return int(gguf.PoolingType.CLS)
    if config.get("pooling_mode_lasttoken"):
        return int(gguf.PoolingType.LAST)
    if config.get("pooling_mode_mean_tokens"):
        return int(gguf.PoolingType.MEAN)
    raise ConversionError(f"unsupported pooling in {model_dir / path}: {config}")


def vocabulary(model_dir: Path) -> tuple[list[str], list[int]]:
    """(tokens in id order with llama.cpp's phantom-space spelling, their gguf.TokenType values)."""
    import gguf

    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    tokenizer = _json(model_dir / "tokenizer.json")
    special = {t["id"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    tokens: list[str] = []
    types: list[int] = []
    for token_id, word in enumerate(words):
        if token_id in special:
            tokens.append(word)
            types.append(int(gguf.TokenType.CONTROL))
        else:
            tokens.append(word[2:] if word.startswith("##") else PHANTOM_SPACE + word)
            types.append(int(gguf.TokenType.NORMAL))
    return tokens, types


def convert(model_dir: Path, out: Path, name: str) -> Path:
    """Write `out` (a GGUF of the BERT model in model_dir); the file appears only when complete."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = _json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        raise ConversionError(f"{model_dir}: model_type {config.get('model_type')!r}, expected 'bert'")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError(f"{model_dir}: only absolute position embeddings are supported")
    blocks = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    tensors = load_file(str(model_dir / "model.safetensors"))

    tmp = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(str(tmp), MODEL_ARCH_NAME)
    writer.add_name(name)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(blocks)
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType(pooling_type(model_dir)))

    tokens, types = vocabulary(model_dir)
    if len(tokens) != int(config["vocab_size"]):
        raise ConversionError(f"vocab.txt has {len(tokens)} tokens, config.json says {config['vocab_size']}")
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer)

    for hf_name in sorted(tensors):
        if hf_name in DROPPED:
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ConversionError(f"no llama.cpp name for tensor {hf_name!r}")
        # Same layout as llama.cpp's converter: numpy (out, in) is ggml {in, out}; no transpose.
        writer.add_tensor(gguf_name, np.ascontiguousarray(tensors[hf_name], dtype=np.float32))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
