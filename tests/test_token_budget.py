"""The prompt is cut to the token budget at a line boundary; the newest text always survives."""

from codegen_lsp.prompt import BlockCounts, cut_to_budget, token_budget


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word, one per newline."""
    return len(text.split()) + text.count("\n")


DOC = "".join(f"line {i} alpha beta\n" for i in range(200)) + "def tail(x):\n    return x +"


def test_budget_is_the_window_minus_new_tokens_and_capped_by_the_setting():
    assert token_budget(2048, 64) == 1984
    assert token_budget(2048, 64, context_tokens=500) == 500
    assert token_budget(100, 200) == 1


def test_text_that_fits_is_kept_whole():
    assert cut_to_budget(DOC, 10_000, words) == DOC


def test_cut_starts_at_a_line_boundary_keeps_the_cursor_end_and_fits():
    for budget in (50, 137, 400):
        for grid in (1, 16):
            prompt = cut_to_budget(DOC, budget, words, max_token_chars=64, line_grid=grid)
            assert DOC.endswith(prompt) and words(prompt) <= budget
            start = len(DOC) - len(prompt)
            assert DOC[start - 1] == "\n"
            assert prompt.endswith("return x +")


def test_with_a_line_grid_of_one_the_cut_keeps_as_many_lines_as_fit():
    prompt = cut_to_budget(DOC, 137, words, line_grid=1)
    one_more_line = DOC[: len(DOC) - len(prompt)].rsplit("\n", 2)[-2] + "\n" + prompt
    assert words(one_more_line) > 137


def test_the_grid_keeps_the_prompt_start_while_the_user_types():
    starts = set()
    text = DOC
    for ch in "    y = compute(x, 2) * 3\n" * 3:
        text += ch
        prompt = cut_to_budget(text, 400, words, line_grid=16)
        starts.add(len(text) - len(prompt))
    assert len(starts) <= 2  # the start moved at most once over ~80 keystrokes


def test_one_enormous_line_is_cut_by_characters():
    line = "x" * 5000 + " y" * 3000
    prompt = cut_to_budget(line, 100, words, max_token_chars=5000)
    assert line.endswith(prompt) and words(prompt) <= 100 and len(prompt) > 100


def test_block_counts_give_the_cut_of_whole_text_counting_and_tokenize_only_what_changed():
    calls = []

    def counting(text):
        calls.append(len(text))
        return words(text)

    for budget in (50, 137, 400, 10_000):
        # the earliest 16-line grid start whose whole tail, counted at once, fits
        grid = [0] + [i + 1 for i, ch in enumerate(DOC) if ch == "\n"][15::16]
        expected = DOC[next(start for start in grid if words(DOC[start:]) <= budget) :]
        assert cut_to_budget(DOC, budget, words, block_counts=BlockCounts(words)) == expected
    blocks = BlockCounts(counting)
    text = DOC
    cut_to_budget(text, 400, counting, block_counts=blocks)
    for ch in "    y = compute(x, 2)":  # typing within the last line
        text += ch
        calls.clear()
        prompt = cut_to_budget(text, 400, counting, block_counts=blocks)
        assert words(prompt) <= 400 and text.endswith(prompt)
        # only the line being typed is tokenized again (plus at most one check of a start near the limit)
        assert len(calls) <= 2 and min(calls) <= len("def tail(x):\n    return x +    y = compute(x, 2)")
