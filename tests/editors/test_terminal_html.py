"""The screen → HTML step behind the Neovim screenshot: colours and attributes survive, text is escaped."""

from terminal_html import apply_sgr, color_256, screen_to_html


def test_truecolor_256_and_basic_colours():
    assert apply_sgr([38, 2, 20, 22, 27], {}) == {"fg": "#14161b"}
    assert apply_sgr([48, 5, 196], {}) == {"bg": "#ff0000"}
    assert apply_sgr([31, 1], {}) == {"fg": "#cd0000", "bold": True}
    assert color_256(244) == "#808080"


def test_reset_and_attribute_off_codes():
    style = apply_sgr([1, 3, 38, 5, 2], {})
    assert apply_sgr([22], style) == {"italic": True, "fg": "#00cd00"}
    assert apply_sgr([0], style) == {}


def test_screen_keeps_text_and_escapes_html():
    page = screen_to_html("\x1b[38;2;150;150;150mreturn a < b\x1b[0m\nplain\x1b[K")
    assert '<span style="color:#969696;background:#14161b">return a &lt; b</span>' in page
    assert ">plain</span>\n" in page and "\x1b" not in page
