"""ae's model specs in PyTorch, shared by the peers (torch_peer.py, parity.py): the compact spec
parsed into ae's JSON form (what a model file's `ae.spec` metadata holds, graph/spec.cpp
Spec::to_json), each layer's output shape by PyTorch's formulas, and the encoder and decoder
nn.Sequentials whose state_dict names are those of ae's file (graph/spec.h layer_param_prefix):
every module takes an index — the layer's own module, its activation unless linear, an
nn.Flatten before a dense layer that reads a [C,H,W] tensor.

ae feeds a convolutional model flat rows of C·H·W features; the peers reshape a batch to
(N, C, H, W) before the encoder (input_shape()), so no module is added for it and the names
stay ae's. A decoder ends at the input's shape, so the loss compares tensors of one shape.

Only the model's layers are read here; the options (:tied, noise, penalties, ...) are the
callers' (parity.py reads them from the JSON spec).
"""
import json

ACT_LETTERS = {"l": "linear", "r": "relu", "k": "leaky_relu", "s": "sigmoid", "t": "tanh",
               "u": "selu", "e": "elu", "p": "softplus", "g": "gelu"}
CONV_KINDS = {"C": "conv2d", "T": "conv_transpose2d", "M": "max_pool2d", "A": "avg_pool2d"}
# Parameter letters each kind takes after its first number (graph/spec_conv.cpp optional_params).
PARAM_LETTERS = {"conv2d": {"k": "kernel", "s": "stride", "p": "padding", "d": "dilation", "b": "bias"},
                 "conv_transpose2d": {"k": "kernel", "s": "stride", "p": "padding", "o": "output_padding",
                                      "d": "dilation", "b": "bias"},
                 "max_pool2d": {"s": "stride", "p": "padding"}, "avg_pool2d": {"s": "stride", "p": "padding"}}


def _dims(text):
    d = [int(v) for v in text.split("x")]
    if len(d) != 3 or min(d) < 1:
        raise ValueError(f"'{text}' is not CxHxW")
    return d


def _layer_token(t):
    """One compact layer token → ae's JSON layer (typed for the convolutional kinds)."""
    if t[0] == "R":
        return {"type": "reshape", "shape": _dims(t[1:])}
    if t[0] == "U":
        return {"type": "upsample", "scale": int(t[1:])}
    if t[0] in CONV_KINDS:
        kind = CONV_KINDS[t[0]]
        i = 1
        while i < len(t) and t[i].isdigit():
            i += 1
        first = int(t[1:i])
        layer = {"type": kind}
        if kind in ("conv2d", "conv_transpose2d"):
            layer["out_channels"] = first
        else:
            layer["kernel"] = first
        while i < len(t):
            c, j = t[i], i + 1
            while j < len(t) and t[j].isdigit():
                j += 1
            if j == i + 1:  # a letter alone, at the end: the activation
                if j != len(t) or "out_channels" not in layer:
                    raise ValueError(f"layer '{t}': '{c}' is neither a parameter nor a final activation")
                layer["act"] = ACT_LETTERS[c]
                break
            name = PARAM_LETTERS[kind].get(c)
            if name is None:
                raise ValueError(f"layer '{t}': unknown parameter '{c}'")
            v = int(t[i + 1:j])
            if name == "bias":
                if v != 0:
                    raise ValueError(f"layer '{t}': 'b' takes 0 (no bias)")
                layer["bias"] = False
            else:
                layer[name] = v
            i = j
        if "out_channels" in layer and "kernel" not in layer:
            raise ValueError(f"layer '{t}': a convolution needs its kernel, e.g. C16k3")
        return layer
    if t[-1] == "v":
        return {"units": int(t[:-1]), "act": "linear", "variational": True}
    act = "linear"
    if t[-1].isalpha():
        act, t = ACT_LETTERS[t[-1]], t[:-1]
    return {"units": int(t), "act": act}


def parse_compact(text):
    """ae's compact spec ("784-256r-32-256r-784s", "1x28x28-C16k3s2p1r-...|-...") → its JSON form
    {"input": 784 or [C, H, W], "encoder": [...], "decoder": [...]}. The code is the layer marked
    with '*' or '|', else the one with the fewest output elements before the output layer (first
    on ties), as ae chooses it. Options after ':' are refused: the peers build plain models."""
    if ":" in text:
        raise ValueError(f"spec '{text}': options (':...') are not built by the peer; give the layers only")
    tokens = text.split("-")
    inp = _dims(tokens[0]) if "x" in tokens[0] else int(tokens[0])
    layers, code = [], None
    for t in tokens[1:]:
        if t[-1] in "*|":
            code, t = len(layers), t[:-1]
        layers.append(_layer_token(t))
    shapes = layer_shapes(inp, layers)
    if code is None:
        sizes = [_elements(s) for s in shapes[:-1]]
        code = sizes.index(min(sizes))
    return {"input": inp, "encoder": layers[:code + 1], "decoder": layers[code + 1:]}


def load(spec):
    """A spec as a JSON dict: the dict itself, JSON text, or the compact form."""
    if isinstance(spec, dict):
        return spec
    spec = spec.strip()
    return json.loads(spec) if spec.startswith("{") else parse_compact(spec)


def _elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _kind(layer):
    return layer.get("type", "dense") if isinstance(layer, dict) else "dense"


def layer_shapes(inp, layers):
    """Each layer's output shape per sample ([C, H, W] or [N]) from the input (a width or [C, H, W]),
    by PyTorch's formulas (conv ⌊(H+2p−d(k−1)−1)/s⌋+1, transposed (H−1)s−2p+d(k−1)+op+1, pools
    with ceil_mode False, nearest upsampling by an integer factor)."""
    x = list(inp) if isinstance(inp, list) else [inp]
    out = []
    for l in layers:
        kind = _kind(l)
        if kind == "dense":
            x = [l["units"] if isinstance(l, dict) else int(l)]
        elif kind == "reshape":
            if _elements(l["shape"]) != _elements(x):
                raise ValueError(f"reshape to {l['shape']} of a {x} tensor")
            x = list(l["shape"])
        else:
            if len(x) != 3:
                raise ValueError(f"{kind} on a flat tensor {x}")
            c, h, w = x
            k, s = l.get("kernel", 0), l.get("stride", l.get("kernel") if kind.endswith("pool2d") else 1)
            p, d, op = l.get("padding", 0), l.get("dilation", 1), l.get("output_padding", 0)
            if kind == "upsample":
                x = [c, h * l["scale"], w * l["scale"]]
            elif kind == "conv_transpose2d":
                f = lambda n: (n - 1) * s - 2 * p + d * (k - 1) + op + 1
                x = [l["out_channels"], f(h), f(w)]
            else:
                span = d * (k - 1) + 1 if kind == "conv2d" else k
                f = lambda n: (n + 2 * p - span) // s + 1
                x = [l["out_channels"] if kind == "conv2d" else c, f(h), f(w)]
        out.append(x)
    return out


def input_shape(spec):
    """The per-sample shape the encoder takes: [C, H, W] for an image input, else [width]."""
    spec = load(spec)
    return list(spec["input"]) if isinstance(spec["input"], list) else [spec["input"]]


def _activation(nn, act):
    return {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "sigmoid": nn.Sigmoid,
            "tanh": nn.Tanh, "selu": nn.SELU, "elu": nn.ELU, "softplus": nn.Softplus,
            "gelu": nn.GELU}[act]()  # gelu: the exact (erf) form, PyTorch's default as ae's


def _reshape_module(nn, shape, image_in):
    """nn.Unflatten for a flat input, as ae names it; ae also allows a reshape of a [C,H,W] tensor
    (same element count), which nn.Unflatten cannot do: a parameterless view then, one module still."""
    if not image_in:
        return nn.Unflatten(1, tuple(shape))

    class Reshape(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], *shape)

        def extra_repr(self):
            return f"shape={tuple(shape)}"
    return Reshape()


def build(torch, spec, linear=None):
    """(encoder, decoder) nn.Sequentials of an ae spec (a dict in ae's JSON form, JSON text or the
    compact form), modules in ae's order so that `load_state_dict` of an ae file matches names and
    shapes. `linear(index, in_features, out_features)`, when given, makes the dense layers (index
    counts the dense layers of encoder and decoder together; parity.py's tied decoder)."""
    nn = torch.nn
    spec = load(spec)
    inp = spec["input"]
    x = list(inp) if isinstance(inp, list) else [inp]
    parts, dense_index = [], 0
    for layers in (spec["encoder"], spec["decoder"]):
        mods = []
        shapes = layer_shapes(x, layers)
        for l, y in zip(layers, shapes):
            kind = _kind(l)
            if isinstance(l, int):
                l = {"units": l}
            image_in = len(x) == 3
            if kind == "dense":
                if l.get("variational"):
                    raise ValueError("a variational code layer is vae_peer.py's")
                if image_in:
                    mods.append(nn.Flatten())
                width = _elements(x)
                mods.append(linear(dense_index, width, l["units"]) if linear else nn.Linear(width, l["units"]))
                dense_index += 1
            elif kind == "conv2d":
                mods.append(nn.Conv2d(x[0], l["out_channels"], l["kernel"], stride=l.get("stride", 1),
                                      padding=l.get("padding", 0), dilation=l.get("dilation", 1),
                                      bias=l.get("bias", True)))
            elif kind == "conv_transpose2d":
                mods.append(nn.ConvTranspose2d(x[0], l["out_channels"], l["kernel"], stride=l.get("stride", 1),
                                               padding=l.get("padding", 0), output_padding=l.get("output_padding", 0),
                                               dilation=l.get("dilation", 1), bias=l.get("bias", True)))
            elif kind in ("max_pool2d", "avg_pool2d"):  # ceil_mode False, count_include_pad True: defaults
                pool = nn.MaxPool2d if kind == "max_pool2d" else nn.AvgPool2d
                mods.append(pool(l["kernel"], stride=l.get("stride", l["kernel"]), padding=l.get("padding", 0)))
            elif kind == "upsample":
                mods.append(nn.Upsample(scale_factor=l["scale"], mode="nearest"))
            elif kind == "reshape":
                mods.append(_reshape_module(nn, l["shape"], image_in))
            else:
                raise ValueError(f"unknown layer type '{kind}'")
            act = l.get("act", "linear")
            if act != "linear":
                mods.append(_activation(nn, act))
            x = y
        parts.append(nn.Sequential(*mods))
    return parts[0], parts[1]


def as_input(x, spec):
    """ae's flat rows [N, C·H·W] as the encoder's input: (N, C, H, W) for an image spec."""
    shape = input_shape(spec)
    return x.reshape(x.shape[0], *shape) if len(shape) == 3 else x


def main():
    """python3 torch_spec.py SPEC [MODEL.safetensors]: the peer's nn.Sequentials of SPEC, their
    state_dict names and shapes, and (given an ae model file) whether its tensors load unchanged."""
    import sys
    import torch
    if len(sys.argv) not in (2, 3):
        raise SystemExit(main.__doc__)
    spec = load(sys.argv[1])
    encoder, decoder = build(torch, spec)
    model = torch.nn.Module()
    model.encoder, model.decoder = encoder, decoder
    print(json.dumps(spec))
    print(model)
    for k, v in model.state_dict().items():
        print(f"  {k:<20} {list(v.shape)}")
    print(f"  {sum(v.numel() for v in model.state_dict().values())} parameters")
    if len(sys.argv) == 3:
        from parity import read_safetensors
        tensors, meta = read_safetensors(sys.argv[2])
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
        same = load(meta["ae.spec"]) == spec
        print(f"{sys.argv[2]}: {len(tensors)} tensors load with strict=True; its ae.spec "
              f"{'equals' if same else 'differs from'} the parsed spec")


if __name__ == "__main__":
    main()
