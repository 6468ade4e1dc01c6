#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets (run from the repository root).
Seeds are small valid (and nearly valid) files in the framing each target documents."""
import json, os, struct

R = "src/test/resources/dev/squish/fuzz"

def frame(b: bytes) -> bytes:
    return struct.pack("<H", len(b)) + b

def header_json(tensors, meta=None):
    h, off, data = {}, 0, b""
    if meta: h["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw); data += raw
    return json.dumps(h).encode(), data

def st_input(tensors, meta=None, mode=0):
    hj, data = header_json(tensors, meta)
    return bytes([mode]) + frame(hj) + data

def put(target, name, b):
    d = os.path.join(R, target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(b)

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
mat = ("model.layers.0.mlp.up_proj.weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6))
vec = ("model.norm.weight", "BF16", [2], b"\x80\x3f\x00\x40")
ids = ("ids", "I64", [2], struct.pack("<2q", 7, -1))
half = ("h", "F16", [1, 2], b"\x00\x3c\x00\xc0")
put("SafeTensorsFuzzTestInputs/header", "valid", st_input([mat, vec, ids, half], {"format": "pt"}))
put("SafeTensorsFuzzTestInputs/header", "empty-header", st_input([]))
put("SafeTensorsFuzzTestInputs/header", "zero-dim", st_input([("z", "F32", [0, 5], b"")]))
put("SafeTensorsFuzzTestInputs/header", "squish-meta", st_input([mat], {"squish.version": "1", "squish.format.model.layers.0.mlp.up_proj": "dense-f32"}))
put("SafeTensorsFuzzTestInputs/header", "declared-long", st_input([mat], mode=1))

a = header_json([mat])
b = header_json([vec, ids])
idx = json.dumps({"metadata": {"total_size": 40}, "weight_map": {mat[0]: "a.safetensors", vec[0]: "b.safetensors", ids[0]: "b.safetensors"}}).encode()
put("SafeTensorsFuzzTestInputs/index", "valid", frame(idx) + frame(bytes([0]) + frame(a[0]) + a[1]) + bytes([0]) + frame(b[0]) + b[1])

# config.json: the fixtures' configs and variants reaching each branch.
for fam in ("llama", "gpt2"):
    cfg = open(f"fixtures/models/kjv-{fam}-tiny/config.json", "rb").read()
    put("ConfigFuzzTestInputs/config", fam, cfg)
    if fam == "llama":
        put("ConfigFuzzTestInputs/model", fam, cfg)
        c = json.loads(cfg)
        for name, change in [("mistral", {"model_type": "mistral"}), ("qwen2", {"model_type": "qwen2", "rope_theta": 1e6}),
                             ("no-kv-heads", {"num_key_value_heads": None}), ("rope-scaling", {"rope_scaling": {"rope_type": "linear"}})]:
            put("ConfigFuzzTestInputs/config", name, json.dumps({**c, **change}).encode())
        put("ConfigFuzzTestInputs/model", "tied", json.dumps({**c, "tie_word_embeddings": True}).encode())
        put("ConfigFuzzTestInputs/model", "wrong-vocab", json.dumps({**c, "vocab_size": 4097}).encode())

# tokenizer.json: a small byte-level BPE cut from the fixture's (all 256 byte tokens, the first merges).
t = json.load(open("fixtures/models/kjv-llama-tiny/tokenizer.json"))
vocab = t["model"]["vocab"]
merges = t["model"]["merges"][:40]
keep = {k: v for k, v in vocab.items() if v <= 256}
for a, b in merges:
    keep[a + b] = vocab[a + b]
t["model"]["vocab"] = keep
t["model"]["merges"] = merges
cfgb = open("fixtures/models/kjv-llama-tiny/tokenizer_config.json", "rb").read()
text = "In the beginning God created the heaven and the earth.<|endoftext|> \u00e9\u4e2d"
put("TokenizerFuzzTestInputs/tokenizer", "small", frame(json.dumps(t).encode()) + frame(cfgb) + text.encode())
t2 = dict(t)
t2["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
t2["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}]}
t2["model"] = dict(t["model"], merges=[a + " " + b for a, b in merges])
put("TokenizerFuzzTestInputs/tokenizer", "split-nfc", frame(json.dumps(t2).encode()) + frame(b"") + text.encode())

# recipes: the documented example and small variants.
put("RecipeFuzzTestInputs/recipe", "example", open("docs/recipe-example.yaml", "rb").read())
put("RecipeFuzzTestInputs/recipe", "single", b"stages:\n  - method: magnitude\n    sparsity: 0.5\n")
put("RecipeFuzzTestInputs/recipe", "quant", b"calibration:\n  samples: 8\n  seq_len: 64\n  sampling: sequential\nstages:\n  - method: wanda\n    pattern: \"2:4\"\n  - method: rtn\n    bits: 4\n    group_size: 32\n    layers: \"^self_attn\\\\.\"\n")
put("RecipeFuzzTestInputs/recipe", "anchors", b"base: &b {method: magnitude, sparsity: 0.3}\nstages: [*b]\n")

# GGUF v3: metadata of several types, an F32 tensor and a Q8_0 tensor.
def gstr(s): b = s.encode(); return struct.pack("<Q", len(b)) + b
def gkv(key, typ, payload): return gstr(key) + struct.pack("<I", typ) + payload
kvs = [gkv("general.architecture", 8, gstr("llama")), gkv("llama.block_count", 4, struct.pack("<I", 1)),
       gkv("general.alignment", 4, struct.pack("<I", 32)), gkv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
       gkv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + gstr("a") + gstr("b"))]
f32data = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
q8 = struct.pack("<e", 0.5) + bytes(range(32))
infos = gstr("a.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 3, 2) + struct.pack("<IQ", 0, 0)
infos += gstr("b.weight") + struct.pack("<I", 1) + struct.pack("<Q", 32) + struct.pack("<IQ", 8, 32)
g = struct.pack("<IIQQ", 0x46554747, 3, 2, len(kvs)) + b"".join(kvs) + infos
g += b"\0" * (-len(g) % 32)
g += f32data + b"\0" * (32 - len(f32data)) + q8
put("GgufFuzzTestInputs/gguf", "f32-q8", g)
