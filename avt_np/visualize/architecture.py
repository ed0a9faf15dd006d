"""The audiovisual transformer as a picture (paper Fig. 3), drawn from a ModelConfig, so that it
cannot drift from the code: the encoder reads the first modality, the decoder the second, each
decoder block's cross-attention reads the encoder's output, and pooling over time turns frame
probabilities into clip probabilities. Every box is labelled with the shape of what leaves it.

    from avt_np.model import ModelConfig
    from avt_np.visualize.architecture import draw
    draw(ModelConfig()).save("architecture.png")

Fields the picture reads are read by name with a default (getattr), so a config with fields it
does not know draws as before.
"""

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from avt_np.model import ModelConfig

WHITE, BLACK, GREY = (255, 255, 255), (30, 30, 30), (110, 110, 110)
MEMORY = (190, 80, 20)
ENCODER, DECODER, HEAD = (222, 235, 247), (253, 229, 210), (226, 240, 217)
WIDTH, LEFT, RIGHT, LINE = 980, 380, 450, 18         # pixels


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def top(self):
        return (self.x + self.w // 2, self.y)

    @property
    def bottom(self):
        return (self.x + self.w // 2, self.y + self.h)


def font(size=14):
    return ImageFont.load_default(size=size)


def describe(config):
    """What the picture says, as text: {part: [lines]}. Reads the config's fields by name."""
    get = lambda name, default: getattr(config, name, default)   # noqa: E731
    first, second = get("first", "video"), get("second", "audio")
    dims = get("dims", {"audio": 128, "video": 4096})
    d, heads, d_head = get("d_model", 128), get("heads", 3), get("d_head", 128)
    d_ff, blocks, classes = get("d_ff", 128), get("blocks", 3), get("classes", 17)
    pos_enc = tuple(get("pos_enc", ()))
    attention, pooling = get("attention", "softmax"), get("pooling", "mean")
    memory = get("memory_block", None)
    memory = blocks if memory is None else memory
    windows = {k: get(k, None) for k in ("self_attention_window", "cross_attention_window")}

    def stream(modality):
        pe = ", + positional encodings" if modality in pos_enc else ""
        return [f"{modality} features  (B, T, {dims.get(modality, '?')})",
                f"linear {dims.get(modality, '?')} -> {d}, dropout{pe}", f"(B, T, {d})"]

    def attn(kind, window):
        where = f", window {window}" if window else ""
        return f"{kind}: {heads} heads x {d_head}, {attention}{where}; add, LayerNorm"

    feed = f"feed-forward {d} -> {d_ff} -> {d}; add, LayerNorm"
    reads = ("the encoder's input stream" if memory == 0 else
             "encoder block %d's output" % memory if memory < blocks else "the encoder's output")
    return {
        "encoder input": stream(first),
        "encoder": [f"encoder block  x {blocks}" if memory == blocks else
                    f"encoder block  x {memory} (of {blocks})",
                    attn("self-attention", windows["self_attention_window"]), feed,
                    f"memory (B, T, {d})"],
        "decoder input": stream(second),
        "decoder": [f"decoder block  x {blocks}",
                    attn("self-attention", windows["self_attention_window"]),
                    attn("cross-attention", windows["cross_attention_window"]),
                    f"  queries: {second}; keys, values: {reads}", feed, f"(B, T, {d})"],
        "head": [f"linear {d} -> {classes}, sigmoid", f"frame probabilities (B, T, {classes})",
                 f"{pooling} pooling over time", f"clip probabilities (B, {classes})"],
    }


def text_box(draw, box, lines, fill, bold_first=True):
    draw.rounded_rectangle((box.x, box.y, box.x + box.w, box.y + box.h), radius=8, fill=fill,
                           outline=GREY, width=2)
    for i, line in enumerate(lines):
        draw.text((box.x + 12, box.y + 10 + i * LINE * 1.25), line, fill=BLACK,
                  font=font(16 if i == 0 and bold_first else 14))


def arrow(draw, start, end, colour=BLACK):
    draw.line([start, end], fill=colour, width=3)
    x, y = end
    dx, dy = x - start[0], y - start[1]
    if abs(dy) >= abs(dx):
        s = 1 if dy > 0 else -1
        draw.polygon([(x, y), (x - 7, y - 12 * s), (x + 7, y - 12 * s)], fill=colour)
    else:
        s = 1 if dx > 0 else -1
        draw.polygon([(x, y), (x - 12 * s, y - 7), (x - 12 * s, y + 7)], fill=colour)


def height_of(lines):
    return 20 + int(len(lines) * LINE * 1.25)


def draw(config=None):
    """The picture of the model `config` (default: the paper's, ModelConfig()) as an RGB
    image: the encoder on the left, the decoder on the right, read from the bottom up as in the
    paper's Fig. 3."""
    config = config if config is not None else ModelConfig()
    parts = describe(config)
    left, right = 20, WIDTH - 20 - RIGHT
    heights = {name: height_of(lines) for name, lines in parts.items()}
    height = 50 + heights["head"] + heights["decoder"] + heights["decoder input"] + 2 * 40 + 20
    image = Image.new("RGB", (WIDTH, height), WHITE)
    pen = ImageDraw.Draw(image)
    pen.text((30, 14), "The audiovisual transformer (paper Fig. 3), drawn from its ModelConfig",
             fill=BLACK, font=font(18))
    bottom = height - 20
    boxes = {}
    # bottom-up: inputs, blocks, head (decoder side only)
    y = bottom - heights["decoder input"]
    boxes["encoder input"] = Box(left, bottom - heights["encoder input"], LEFT,
                                 heights["encoder input"])
    boxes["decoder input"] = Box(right, y, RIGHT, heights["decoder input"])
    y -= 40 + heights["decoder"]
    boxes["decoder"] = Box(right, y, RIGHT, heights["decoder"])
    boxes["encoder"] = Box(left, y + heights["decoder"] - heights["encoder"], LEFT,
                           heights["encoder"])
    y -= 40 + heights["head"]
    boxes["head"] = Box(right, y, RIGHT, heights["head"])
    colours = {"encoder input": ENCODER, "encoder": ENCODER, "decoder input": DECODER,
               "decoder": DECODER, "head": HEAD}
    for name, box in boxes.items():
        text_box(pen, box, parts[name], colours[name])
    arrow(pen, boxes["encoder input"].top, boxes["encoder"].bottom)
    arrow(pen, boxes["decoder input"].top, boxes["decoder"].bottom)
    arrow(pen, boxes["decoder"].top, boxes["head"].bottom)
    # the memory reaches every decoder block's cross-attention
    enc, dec = boxes["encoder"], boxes["decoder"]
    cross = dec.y + 10 + int(2.5 * LINE * 1.25)         # the cross-attention line
    start = (enc.x + enc.w, enc.y + enc.h - 20)
    corner = (start[0] + 40, start[1])
    pen.line([start, corner, (corner[0], cross)], fill=MEMORY, width=3)
    arrow(pen, (corner[0], cross), (dec.x, cross), colour=MEMORY)
    pen.text((start[0] + 6, start[1] + 6), "memory", fill=MEMORY, font=font(13))
    return image
