"""Behaviour of lstm_course.viz: what is drawn (data, titles, labels) and the escaped HTML view."""
import html
import math
import re
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lstm_course.cell import trace_gates  # noqa: E402
from lstm_course.training import History  # noqa: E402
from lstm_course.viz import (HTMLActivation, StaticSliders, static_sliders, html_activation, plot_attention,  # noqa: E402
                             plot_gates, plot_hidden_heatmap, plot_learning_curves)
from figure_overlap import overlaps  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history():
    return History(step=[1, 2, 3, 4], train_loss=[4.0, 3.0, 2.0, 1.0], val_loss=[2.5, 1.5], val_step=[2, 4],
                   grad_norm=[1.0] * 4, lr=[1e-3] * 4, seconds=[0.1, 0.2, 0.3, 0.4])


def test_learning_curves_in_bits_plot_train_and_validation():
    ax = plot_learning_curves(make_history(), smooth=1)
    train, val = ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4]
    np.testing.assert_allclose(train.get_ydata(), np.array([4.0, 3.0, 2.0, 1.0]) / math.log(2))
    assert list(val.get_xdata()) == [2, 4]
    np.testing.assert_allclose(val.get_ydata(), np.array([2.5, 1.5]) / math.log(2))
    assert ax.get_title() and "bits" in ax.get_ylabel() and ax.get_xlabel()


def test_learning_curves_smoothing_is_a_trailing_mean_and_nats_are_unscaled():
    fig, ax = plt.subplots()
    out = plot_learning_curves(make_history(), ax=ax, unit="nats", smooth=2)
    assert out is ax
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [4.0, 3.5, 2.5, 1.5])
    assert "nats" in ax.get_ylabel()


def test_learning_curves_bad_input():
    with pytest.raises(ValueError, match="expected unit"):
        plot_learning_curves(make_history(), unit="furlongs")
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curves(History())


def real_gates(text="hi <b>!"):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5)
    return trace_gates(lstm, torch.randn(len(text), 3)), text


def test_plot_gates_draws_each_gate_for_the_chosen_units():
    gates, text = real_gates()
    axes = plot_gates(gates, text, units=(1, 3))
    assert len(axes) == 6
    for ax, key in zip(axes, "ifgoch"):
        lines = ax.get_lines()
        assert len(lines) == 2  # one per unit
        np.testing.assert_allclose(lines[1].get_ydata(), gates[key][:, 3].numpy(), rtol=1e-6)
        assert ax.get_title() and ax.get_ylabel() == "activation"
    assert axes[-1].get_xlabel() == "character"
    assert [t.get_text() for t in axes[-1].get_xticklabels()] == ["h", "i", "␣", "<", "b", ">", "!"]
    assert axes[0].figure.get_suptitle()


def test_plot_gates_bad_input():
    gates, text = real_gates()
    with pytest.raises(ValueError, match="T = len\\(text\\)"):
        plot_gates(gates, text + "x")
    with pytest.raises(ValueError, match="expected units"):
        plot_gates(gates, text, units=(5,))
    with pytest.raises(ValueError, match="missing \\['f'\\]"):
        plot_gates({"i": gates["i"]}, text, keys=("i", "f"))


def test_hidden_heatmap_shows_units_by_characters():
    gates, text = real_gates()
    ax = plot_hidden_heatmap(gates["h"], text)
    image = ax.get_images()[0].get_array()
    assert image.shape == (5, len(text))  # (H, T): units are rows
    np.testing.assert_allclose(image, gates["h"].numpy().T, rtol=1e-6)
    assert ax.get_title() and ax.get_xlabel() == "character" and ax.get_ylabel() == "hidden unit"
    with pytest.raises(ValueError, match="expected h of shape"):
        plot_hidden_heatmap(gates["h"], text[:-1])


def test_attention_heatmap_rows_are_output_characters_columns_source_characters():
    source, output = "Sat 27 Aug 1994", "1994-08-27"
    rng = np.random.default_rng(0)
    w = rng.random((len(output) + 1, len(source)))
    w /= w.sum(axis=1, keepdims=True)  # each row a distribution over the source, like attention
    ax = plot_attention(torch.tensor(w), source, output)
    np.testing.assert_allclose(ax.get_images()[0].get_array(), w)  # (T + 1, S): row t = output character t
    assert [t.get_text() for t in ax.get_xticklabels()] == [c if c != " " else "␣" for c in source]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(output) + ["EOS"]
    assert ax.get_xlabel().startswith("source") and ax.get_ylabel().startswith("output")
    assert ax.get_title() == repr(source)
    assert ax.figure.axes[-1].get_ylabel() == "attention weight"  # the colour bar says what colour means
    assert ax.get_images()[0].get_clim() == (0.0, 1.0)  # panels side by side share one scale
    assert overlaps(ax.figure) == []  # a long worded date still has readable labels
    ax2 = plot_attention(w, source, output, end_label=None, colorbar=False, title="no EOS row")
    assert ax2.get_images()[0].get_array().shape == (len(output), len(source))
    assert len(ax2.figure.axes) == 1 and ax2.get_title() == "no EOS row"


def test_attention_heatmap_bad_shape():
    with pytest.raises(ValueError, match=r"expected weights of shape .* \(3, 2\) .* got \(3, 3\)"):
        plot_attention(np.ones((3, 3)), "ab", "xyz")
    with pytest.raises(ValueError, match="expected weights of shape"):
        plot_attention(np.ones(6), "ab", "xyz")


def test_html_activation_escapes_and_colours_each_character():
    text = "<a>&\n"
    out = html_activation(text, [1.0, -1.0, 0.0, 0.5, 0.0])
    assert "<a>" not in out and "&lt;" in out and "&gt;" in out and "&amp;" in out
    spans = re.findall(r'<span style="background-color:rgb\((\d+),(\d+),(\d+)\)[^"]*" title="([^"]+)">', out)
    assert len(spans) == len(text)
    assert [float(s[3]) for s in spans] == [1.0, -1.0, 0.0, 0.5, 0.0]
    (r_pos, _, b_pos), (r_neg, _, b_neg) = [tuple(map(int, s[:3])) for s in spans[:2]]
    assert r_pos > b_pos and b_neg > r_neg  # RdBu_r: positive red, negative blue
    assert out.count("<span") == len(text)


def test_html_activation_bad_input_and_notebook_display():
    with pytest.raises(ValueError, match="one value per character"):
        html_activation("abc", [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        html_activation("ab", [0.1, float("nan")])
    with pytest.raises(ValueError, match="colormap"):
        html_activation("ab", [0.1, 0.2], cmap="no-such-map")
    view = HTMLActivation("a<", torch.tensor([0.2, -0.3]))
    assert view._repr_html_() == html_activation("a<", [0.2, -0.3])


def _slider_texts():
    axes = {"temperature": [0.5, 1.0, 1.5], "seed": [0, 1]}
    texts = {(t, s): f"T={t} seed={s} <&>" for t in axes["temperature"] for s in axes["seed"]}
    return texts, axes


def test_static_sliders_show_the_start_text_and_escape_everything():
    texts, axes = _slider_texts()
    page = static_sliders(texts, axes, start=(1.0, 1))
    assert page.count("<pre") == 6 and page.count('type="range"') == 2
    visible = re.findall(r'<pre data-key="([0-9-]+)" style', page)  # the one <pre> without `hidden`
    assert visible == ["1-1"]
    assert "T=1.0 seed=1 &lt;&amp;&gt;" in page and "<&>" not in page
    assert static_sliders(texts, axes, start=(1.0, 1)) == page  # deterministic: same page, same HTML
    assert StaticSliders(texts, axes)._repr_html_() == static_sliders(texts, axes)


def test_static_sliders_errors():
    texts, axes = _slider_texts()
    with pytest.raises(ValueError, match="missing"):
        static_sliders({k: v for k, v in texts.items() if k != (1.5, 1)}, axes)
    with pytest.raises(ValueError, match="start"):
        static_sliders(texts, axes, start=(0.7, 0))
    with pytest.raises(ValueError, match="at least one value"):
        static_sliders(texts, {"temperature": []})


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's /usr/bin/chromium")
def test_static_sliders_switch_text_in_a_browser(tmp_path):
    # move both sliders as a reader would, then read which text the page shows
    texts, axes = _slider_texts()
    page = static_sliders(texts, axes)
    script = """<script>
    document.addEventListener("DOMContentLoaded", function () {
      var s = document.querySelectorAll("input[type=range]");
      s[0].value = 2; s[0].dispatchEvent(new Event("input"));
      s[1].value = 1; s[1].dispatchEvent(new Event("input"));
      var shown = Array.from(document.querySelectorAll("pre")).filter(p => !p.hidden).map(p => p.textContent);
      document.title = "SHOWN:" + JSON.stringify(shown) + ":" + document.querySelectorAll("output")[0].textContent;
    });</script>"""
    path = tmp_path / "slider.html"
    path.write_text("<html><head></head><body>" + page + script + "</body></html>", encoding="utf-8")
    out = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>(.*?)</title>", out.stdout, re.S)
    assert title is not None, out.stderr[-2000:]
    assert html.unescape(title.group(1)) == 'SHOWN:["T=1.5 seed=1 <&>"]:1.5'
