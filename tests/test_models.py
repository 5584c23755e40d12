"""The model grid: every combination of the five groups builds, runs and learns shapes right."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hydra.errors import HydraException
from omegaconf import OmegaConf

from menu.config import GROUPS, compose, options
from menu.models import build_model, ctc_min_length
from menu.models.build import ConfigConflict
from menu.models.check import check_combination, small

NUM_CLASSES = 7
GRID = list(itertools.product(*(options(g) for g in GROUPS)))


def test_grid_is_the_whole_menu():
    menu = {
        "norm": {"center", "height", "line", "none", "word"},
        "conv": {"fmp", "none", "resnet", "unet", "vgg"},
        "scale": {"interp", "none", "transposed"},
        "reduce": {"concat", "lstm", "max", "sum"},
        "seq": {"lstm", "none"},
    }
    for group, required in menu.items():  # new options may be added, none may go missing
        assert required <= set(options(group)), group
    assert len(GRID) == math.prod(len(options(g)) for g in GROUPS) >= 600


@pytest.fixture(scope="module")
def group_configs():
    """Each option composed once through Hydra; a combination is then a cheap merge."""
    return {(g, o): compose([f"{g}={o}"])[g] for g in GROUPS for o in options(g)}


def combine(group_configs, combo):
    cfg = OmegaConf.create({g: group_configs[(g, o)] for g, o in zip(GROUPS, combo, strict=True)})
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(small(combo)))


def test_combining_equals_composing(group_configs):
    combo = ("word", "resnet", "transposed", "concat", "none")
    composed = compose([f"{g}={o}" for g, o in zip(GROUPS, combo, strict=True)] + small(combo))
    combined = combine(group_configs, combo)
    for g in GROUPS:
        assert OmegaConf.to_container(composed[g]) == OmegaConf.to_container(combined[g])


@pytest.mark.parametrize("combo", GRID, ids=["-".join(c) for c in GRID])
def test_every_combination_runs_forward_and_backward(group_configs, combo):
    check_combination(combine(group_configs, combo), NUM_CLASSES)


def test_ctc_min_length_counts_repeats():
    assert ctc_min_length("") == 0
    assert ctc_min_length("abc") == 3
    assert ctc_min_length("aab") == 4
    assert ctc_min_length("aaa") == 5
    assert ctc_min_length([1, 1, 2, 2]) == 6


def test_feasibility_follows_downsampling():
    model = build_model(compose(["conv=vgg", "scale=none"]), NUM_CLASSES)
    assert model.downsampling == 4
    assert model.feasible("ab", 8) and not model.feasible("abc", 8)
    assert not model.feasible("aa", 8) and model.feasible("aa", 12)


@pytest.mark.parametrize(
    "overrides",
    [["experiment=lstm_plain"], ["experiment=conv_bilstm"], ["experiment=crnn"],
     ["experiment=conv_bilstm", "seq=none"], ["experiment=crnn", "seq=none"]],
)  # fmt: skip
def test_presets_build(overrides):
    cfg = compose(overrides)
    model = build_model(cfg, NUM_CLASSES)
    x = torch.rand(2, 1, cfg.norm.height, 100)
    assert model(x, torch.tensor([100, 60])).shape[:2] == (2, NUM_CLASSES)


def test_crnn_matches_the_paper():
    cfg = compose(["experiment=crnn"])
    model = build_model(cfg, 37)
    assert cfg.norm.height == 32
    assert model.conv.out_height(32) == 1
    assert model.reduce.out_features == 512
    assert model.seq.lstm.hidden_size == 256 and model.seq.lstm.num_layers == 2
    assert model.seq.lstm.bidirectional
    assert model.output_lengths(100) == 24  # W/4 - 1
    assert 8_000_000 < model.num_params < 9_000_000  # the paper's 8.3M


def test_lstm_plain_is_one_lstm_on_columns():
    cfg = compose(["experiment=lstm_plain"])
    model = build_model(cfg, NUM_CLASSES)
    assert model.downsampling == 1 and model.reduce.out_features == 48
    assert model.seq.lstm.hidden_size == 100 and model.seq.lstm.num_layers == 1


def test_too_small_height_is_refused_naming_both_groups():
    cfg = compose(["conv=vgg", "norm=height", "norm.height=4"])
    with pytest.raises(ConfigConflict, match=r"norm=.*conv=.*norm.height"):
        build_model(cfg, NUM_CLASSES)


def test_unknown_option_is_a_hydra_error():
    with pytest.raises(HydraException):
        compose(["conv=alexnet"])


def test_wrong_input_height_is_a_clear_error():
    model = build_model(compose(["norm=height"]), NUM_CLASSES)
    with pytest.raises(ValueError, match="height 48"):
        model(torch.rand(1, 1, 32, 50))


# --- layout tests: the LSTM must run along the sequence, never across the batch ----------


def _perturb_one_item(model, h):
    model.eval()
    x = torch.rand(3, 1, h, 40)
    y = model(x)
    x2 = x.clone()
    x2[1] += torch.rand_like(x2[1])
    y2 = model(x2)
    return y, y2


@pytest.mark.parametrize(
    "combo",
    [
        ("conv=none", "reduce=lstm", "seq=lstm"),
        ("conv=vgg", "reduce=concat", "seq=lstm"),
        ("conv=none", "reduce=concat", "seq=none"),
    ],
)
def test_batch_items_are_independent(combo):
    torch.manual_seed(0)
    model = build_model(compose(list(combo)), NUM_CLASSES)
    y, y2 = _perturb_one_item(model, 48)
    assert torch.allclose(y[0], y2[0], atol=1e-6) and torch.allclose(y[2], y2[2], atol=1e-6)
    assert not torch.allclose(y[1], y2[1])


def test_forward_lstm_is_causal_along_the_line():
    torch.manual_seed(0)
    cfg = compose(["experiment=lstm_plain"])
    model = build_model(cfg, NUM_CLASSES).eval()
    x = torch.rand(2, 1, 48, 50)
    y = model(x)
    x2 = x.clone()
    x2[:, :, :, 40:] = torch.rand_like(x2[:, :, :, 40:])
    y2 = model(x2)
    assert torch.allclose(y[..., :40], y2[..., :40], atol=1e-6)
    assert not torch.allclose(y[..., 40:], y2[..., 40:])


def test_padding_does_not_leak_into_a_line():
    """With true widths, a line's scores do not depend on how far the batch is padded."""
    torch.manual_seed(0)
    model = build_model(compose(["conv=none", "reduce=sum", "seq=lstm"]), NUM_CLASSES).eval()
    line = torch.rand(1, 1, 48, 30)
    alone = model(line, torch.tensor([30]))
    padded = model(torch.nn.functional.pad(line, (0, 20)), torch.tensor([30]))
    assert torch.allclose(alone, padded[..., :30], atol=1e-5)


@pytest.mark.parametrize("conv", [c for c in options("conv") if c != "none"])
def test_channels_last_gives_the_same_scores(conv):
    torch.manual_seed(0)
    model = build_model(compose([f"conv={conv}", "scale=transposed"]), NUM_CLASSES).eval()
    x, w = torch.rand(2, 1, 48, 90), torch.tensor([90, 70])
    want = model(x, w)
    assert torch.allclose(model.use_channels_last()(x, w), want, atol=1e-5)


@pytest.mark.parametrize("conv", options("conv"))
def test_cpu_inference_in_conv_chunks_equals_one_line_at_a_time(conv):
    """At inference on CPU the convolutions run a line at a time (``conv_chunk=1``): each
    line's frames are exactly what it gets alone; the whole batch at once gives the same
    shapes and, for the widest (unpadded) line, the same scores."""
    torch.manual_seed(0)
    model = build_model(compose([f"conv={conv}"]), NUM_CLASSES).eval()
    assert model.conv_chunk == 1
    widths = torch.tensor([90, 40, 64])
    x = torch.rand(3, 1, 48, 90) * (torch.arange(90) < widths[:, None, None, None])
    lengths = model.output_lengths(widths)
    with torch.inference_mode():
        batched = model(x, widths)
        for i, w in enumerate(widths.tolist()):
            alone = model(x[i : i + 1, ..., :w], widths[i : i + 1])
            n = int(lengths[i])
            assert torch.allclose(batched[i, :, :n], alone[0, :, :n], atol=1e-5), i
        model.conv_chunk = 0
        whole = model(x, widths)
    assert whole.shape == batched.shape
    assert torch.allclose(whole[0], batched[0], atol=1e-5)


def test_folding_batch_norm_keeps_the_function_and_quantizing_keeps_the_shapes():
    from menu.models.inference import fold_batchnorm, for_inference

    torch.manual_seed(0)
    model = build_model(compose(["experiment=conv_bilstm", "norm.height=32"]), num_classes=12)
    for m in model.modules():  # running statistics other than the initial 0/1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x, widths = torch.rand(2, 1, 32, 120), torch.tensor([120, 80])
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)
    model.eval()
    with torch.inference_mode():
        before = model(x, widths)
        assert fold_batchnorm(model) == 3  # vgg: conv + bn per layer
        assert torch.allclose(model(x, widths), before, atol=1e-4)
        quantized = for_inference(model, quantize=True)
        out = quantized(x, widths)
    assert out.shape == before.shape and torch.isfinite(out).all()
    assert not any(isinstance(m, torch.nn.LSTM) for m in quantized.modules())


@pytest.mark.parametrize("conv", options("conv"))
def test_pooling_before_the_relu_is_the_same_function(conv):
    from menu.models.inference import pool_before_relu

    torch.manual_seed(0)
    model = build_model(compose([f"conv={conv}", "norm.height=32"]), num_classes=12).eval()
    x, widths = torch.rand(2, 1, 32, 120), torch.tensor([120, 80])
    with torch.inference_mode():
        before = model(x, widths)
        swapped = pool_before_relu(model)
        assert torch.equal(model(x, widths), before)  # exactly: max commutes with ReLU
    assert swapped == {"vgg": 3}.get(conv, 0)  # vgg: conv, bn, relu, pool per layer
    if swapped:
        body = [m for m in model.modules() if isinstance(m, torch.nn.Sequential)]
        assert any(
            isinstance(a, torch.nn.MaxPool2d) and isinstance(b, torch.nn.ReLU)
            for seq in body
            for a, b in itertools.pairwise(seq)
        )


@pytest.mark.parametrize("experiment", ["conv_bilstm", "crnn", "lstm_plain"])
def test_bfloat16_inference_is_close_to_float32_and_refuses_training(experiment):
    from menu.models.inference import BF16_CONV_CHUNK, for_inference

    torch.manual_seed(0)
    model = build_model(compose([f"experiment={experiment}"]), num_classes=12).eval()
    h = model.input_height or 48
    x, widths = torch.rand(3, 1, h, 160), torch.tensor([160, 100, 40])
    for line, w in zip(x, widths, strict=True):
        line[..., w:] = 0  # padded with background, as batches are
    with torch.inference_mode():
        before = model(x, widths)
        for_inference(model, precision="bfloat16")
        after = model(x, widths)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert after.dtype == torch.float32 and after.shape == before.shape
    assert model.conv_chunk == BF16_CONV_CHUNK  # lines per convolution call in bfloat16
    # bfloat16 keeps 8 bits of mantissa: scores agree to a few hundredths of their spread
    assert (after - before).abs().max() < 0.05 * before.std() + 0.05, (after - before).abs().max()
    with pytest.raises(RuntimeError, match="train in float32"):
        model.train()(x, widths)
    with pytest.raises(ValueError, match="precision must be one of"):
        for_inference(model, precision="float8")
    with pytest.raises(ValueError, match="pick one"):
        for_inference(model, quantize=True, precision="bfloat16")


@pytest.mark.parametrize(("bidirectional", "layers"), [(True, 2), (False, 2), (True, 1)])
def test_the_lstm_reads_each_line_as_if_alone_as_a_packed_batch_does(bidirectional, layers):
    """seq=lstm on padded lines (menu.models.seq.lstm_by_length): the outputs and gradients
    of a packed batch, and a line's outputs do not depend on the padding after it."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from menu.models.seq import LSTM, reverse_index

    assert reverse_index(torch.tensor([3, 1]), 4).tolist() == [[2, 1, 0, 3], [0, 1, 2, 3]]
    torch.manual_seed(0)
    m = LSTM(12, 7, hidden=8, layers=layers, bidirectional=bidirectional).train()
    x = torch.randn(4, 12, 30)
    lengths = torch.tensor([30, 21, 5, 1])
    valid = (torch.arange(30)[None] < lengths[:, None])[:, None]
    ours = m(x, lengths) * valid
    ours.pow(2).sum().backward()
    grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    seq = x.permute(0, 2, 1)
    packed, _ = m.lstm(pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False))
    out, _ = pad_packed_sequence(packed, batch_first=True, total_length=30)
    theirs = m.head(out.permute(0, 2, 1)) * valid
    theirs.pow(2).sum().backward()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert all(
        torch.allclose(g, p.grad, atol=1e-4) for g, p in zip(grads, m.parameters(), strict=True)
    )
    longer = torch.cat([x, torch.randn(4, 12, 9)], -1)  # other padding, same lines
    assert torch.allclose(m(longer, lengths)[..., :30] * valid, ours, atol=1e-5)


@pytest.mark.parametrize("lengths", [None, torch.tensor([20, 13])])
def test_the_shortcut_lets_the_head_read_the_features_where_the_lstm_gives_nothing(lengths):
    """seq.shortcut: the head reads [LSTM outputs, input features]. With the LSTM's weights
    at zero its outputs are zero, so a frame's scores follow that frame's features only
    with the shortcut; a model built without the key (an older checkpoint) has no shortcut."""
    from menu.models.seq import LSTM

    torch.manual_seed(0)
    x = torch.randn(2, 12, 20)
    x2 = x.clone()
    x2[:, :, 5] += 1.0
    for shortcut in (True, False):
        m = LSTM(12, 7, hidden=8, layers=2, shortcut=shortcut).eval()
        assert m.head.in_channels == 16 + (12 if shortcut else 0)
        for p in m.lstm.parameters():
            torch.nn.init.zeros_(p)
        changed = (m(x2, lengths) - m(x, lengths)).abs().amax(1)[0] > 1e-6
        assert changed.tolist() == [shortcut and t == 5 for t in range(20)]
    cfg = compose(["seq=lstm"])
    OmegaConf.set_struct(cfg, False)
    cfg.seq.pop("shortcut")
    assert not build_model(cfg, NUM_CLASSES).seq.shortcut


def test_the_conv_heads_shortcut_reads_the_features_beside_its_hidden_layers():
    from menu.models.seq import ConvHead

    torch.manual_seed(0)
    x = torch.randn(2, 12, 20)
    m = ConvHead(12, 7, hidden=8, layers=1, shortcut=True)
    assert m.body[-1].in_channels == 8 + 12 and m(x).shape == (2, 7, 20)
    torch.nn.init.zeros_(m.body[0].weight)
    torch.nn.init.zeros_(m.body[0].bias)  # the hidden layer gives nothing: only the shortcut
    assert not torch.allclose(m(x), m(x + 1))
    with pytest.raises(ValueError, match=r"seq\.layers"):
        ConvHead(12, 7, layers=0, shortcut=True)


@pytest.mark.parametrize("experiment", ["lstm_plain", "conv_bilstm", "crnn"])
def test_presets_have_no_shortcut_and_take_either_seq(experiment):
    """The presets reproduce systems without one; seq=none still composes with the
    convolutional ones (lstm_plain sets LSTM-only keys)."""
    assert not build_model(compose([f"experiment={experiment}"]), NUM_CLASSES).seq.shortcut
    if experiment != "lstm_plain":
        build_model(compose([f"experiment={experiment}", "seq=none"]), NUM_CLASSES)


@pytest.mark.parametrize("conv", options("conv"))
def test_a_scale_layer_with_nothing_to_upsample_is_canonically_scale_none(conv):
    """menu.models.build.canonical (the search trains such twins once): a scale option is
    written as scale=none exactly when the model it builds upsamples by 1."""
    from menu.models.build import canonical
    from menu.record import identity_sha256

    plain = compose([f"conv={conv}", "scale=none"])
    for scale in options("scale"):
        cfg = compose([f"conv={conv}", f"scale={scale}"])
        factor = build_model(cfg, 7).scale.factor
        same = identity_sha256(canonical(cfg)) == identity_sha256(plain)
        assert same == (scale == "none" or factor == 1), (scale, factor)
        assert (canonical(cfg) is cfg) == (scale == "none" or factor != 1)
