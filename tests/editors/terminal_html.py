"""A terminal screen as `tmux capture-pane -e` prints it (text with SGR colour codes) → HTML that a browser
can screenshot. Only SGR (`ESC [ ... m`) matters in capture-pane's output; anything else is dropped."""

from __future__ import annotations

import html
import re

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# xterm's 16 colours.
BASIC = ["#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
         "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff"]


def color_256(n: int) -> str:
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (levels[n // 36], levels[n // 6 % 6], levels[n % 6])
    gray = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (gray, gray, gray)


def apply_sgr(params: list[int], style: dict) -> dict:
    """The style after one SGR sequence."""
    style = dict(style)
    i = 0
    while i < len(params):
        p = params[i]
        if p == 0:
            style = {}
        elif p in (1, 3, 4, 7):
            style[{1: "bold", 3: "italic", 4: "underline", 7: "reverse"}[p]] = True
        elif p in (22, 23, 24, 27):
            style.pop({22: "bold", 23: "italic", 24: "underline", 27: "reverse"}[p], None)
        elif 30 <= p <= 37 or 90 <= p <= 97:
            style["fg"] = BASIC[p - 30 if p < 90 else p - 90 + 8]
        elif 40 <= p <= 47 or 100 <= p <= 107:
            style["bg"] = BASIC[p - 40 if p < 100 else p - 100 + 8]
        elif p in (39, 49):
            style.pop("fg" if p == 39 else "bg", None)
        elif p in (38, 48) and i + 1 < len(params):
            key = "fg" if p == 38 else "bg"
            if params[i + 1] == 5 and i + 2 < len(params):
                style[key] = color_256(params[i + 2])
                i += 2
            elif params[i + 1] == 2 and i + 4 < len(params):
                style[key] = "#%02x%02x%02x" % tuple(params[i + 2 : i + 5])
                i += 4
        i += 1
    return style


def css(style: dict, fg: str, bg: str) -> str:
    color, background = style.get("fg", fg), style.get("bg", bg)
    if style.get("reverse"):
        color, background = background, color
    rules = [f"color:{color}", f"background:{background}"]
    if style.get("bold"):
        rules.append("font-weight:bold")
    if style.get("italic"):
        rules.append("font-style:italic")
    if style.get("underline"):
        rules.append("text-decoration:underline")
    return ";".join(rules)


def screen_to_html(screen: str, fg: str = "#e0e2ea", bg: str = "#14161b", title: str = "") -> str:
    """HTML for the screen; `fg`/`bg` stand for the terminal's default colours (Neovim's dark theme's)."""
    out, style = [], {}
    for line in screen.rstrip("\n").split("\n"):
        pos = 0
        for match in SGR.finditer(line):
            text = OTHER_ESCAPE.sub("", line[pos : match.start()])
            if text:
                out.append(f'<span style="{css(style, fg, bg)}">{html.escape(text)}</span>')
            params = [int(p) if p else 0 for p in re.split("[;:]", match.group(1))] if match.group(1) else [0]
            style = apply_sgr(params, style)
            pos = match.end()
        text = OTHER_ESCAPE.sub("", line[pos:])
        if text:
            out.append(f'<span style="{css(style, fg, bg)}">{html.escape(text)}</span>')
        out.append("\n")
    body = "".join(out)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        f"body{{margin:0;background:{bg}}}pre{{margin:0;padding:8px;font:15px/1.3 'DejaVu Sans Mono',monospace;"
        f"color:{fg};background:{bg}}}</style></head><body><pre>{body}</pre></body></html>"
    )
