"""Lexer and parser for the virtual phone's shell: command lines -> pipelines of commands.

Covers what adb clients send: '' "" and \\ quoting, ``$?``/``$VAR``/``${VAR}``, ``;`` ``&&`` ``||``
``|`` ``&``, redirections ``>`` ``>>`` ``<`` ``N>`` ``N>&M``, ``#`` comments, and the loops a
sampling script needs: ``while``/``until`` LIST ``do`` LIST ``done`` and ``for NAME in WORDS; do``
LIST ``done`` (loops.py runs them). Command substitution, backquotes, subshells, ``if`` and
``case`` are refused with a syntax error (rc 2) rather than misread. Words stay unexpanded here;
shell.py expands them when each command runs, after ``$?`` is known.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
             "esac", "function", "select", "{", "}", "[[", "]]"}


class ShellSyntaxError(Exception):
    pass


@dataclass
class Command:
    words: list = field(default_factory=list)      # each word: list of (kind, text) segments
    redirects: list = field(default_factory=list)  # (fd, op, word) or (fd, ">&", int)
    loop: "Loop | None" = None                     # a while/until/for compound, run by loops.py
    background: bool = False                       # the pipeline it ends is followed by `&`


@dataclass
class Loop:
    kind: str                                       # "while", "until" or "for"
    condition: list = field(default_factory=list)  # parsed items (while/until)
    body: list = field(default_factory=list)       # parsed items
    name: str = ""                                  # for: the variable
    words: list = field(default_factory=list)      # for: the unexpanded words after `in`


# -- lexing ------------------------------------------------------------------------------------
def lex(text: str) -> list[tuple]:
    """Tokens: ("word", segments), ("op", op), ("redir", fd, op), ("dup", fd, target_fd)."""
    tokens: list[tuple] = []
    parts: list[tuple[str, str]] = []
    in_word = False
    i, n = 0, len(text)

    def flush() -> None:
        nonlocal parts, in_word
        if in_word:
            merged: list[tuple[str, str]] = []
            for kind, text in parts:  # one segment per run of same-kind literal text
                if merged and kind in ("lit", "q") and merged[-1][0] == kind:
                    merged[-1] = (kind, merged[-1][1] + text)
                else:
                    merged.append((kind, text))
            tokens.append(("word", merged))
        parts, in_word = [], False

    while i < n:
        c = text[i]
        if c in " \t\r":
            flush()
            i += 1
        elif c == "\n":
            flush()
            tokens.append(("op", ";"))
            i += 1
        elif c == "#" and not in_word:
            while i < n and text[i] != "\n":
                i += 1
        elif c in "<>":
            fd = None
            if in_word and all(k == "lit" for k, _ in parts) and "".join(t for _, t in parts).isdigit():
                fd = int("".join(t for _, t in parts))
                parts, in_word = [], False
            flush()
            op = ">>" if text.startswith(">>", i) else c
            i += len(op)
            if text.startswith("&", i) and op in (">", "<"):
                j = i + 1
                while j < n and text[j].isdigit():
                    j += 1
                if j == i + 1:
                    raise ShellSyntaxError("syntax error: bad redirection")
                tokens.append(("dup", 1 if fd is None and op == ">" else (fd or 0), int(text[i + 1:j])))
                i = j
            else:
                tokens.append(("redir", fd if fd is not None else (0 if op == "<" else 1), op))
        elif c in ";&|":
            flush()
            op = text[i:i + 2] if text[i:i + 2] in ("&&", "||", ";;") else c
            if op == ";;":
                raise ShellSyntaxError("syntax error: unexpected ';;'")
            tokens.append(("op", op))
            i += len(op)
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("syntax error: unterminated quoted string")
            parts.append(("q", text[i + 1:end]))
            in_word, i = True, end + 1
        elif c == '"':
            i = _lex_double(text, i + 1, parts)
            in_word = True
        elif c == "\\":
            if text.startswith("\n", i + 1):
                i += 2
                continue
            parts.append(("q", text[i + 1:i + 2]))
            in_word, i = True, i + 2
        elif c == "$":
            i = _lex_var(text, i, parts, quoted=False)
            in_word = True
        elif c in "`(){}" and not in_word:
            raise ShellSyntaxError(f"syntax error: '{c}' is not supported by the virtual device")
        else:
            parts.append(("lit", c))
            in_word, i = True, i + 1
    flush()
    return tokens


def _lex_double(text: str, i: int, parts: list) -> int:
    buf = []
    while i < len(text):
        c = text[i]
        if c == '"':
            parts.append(("q", "".join(buf)))
            return i + 1
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
            buf.append(text[i + 1] if text[i + 1] != "\n" else "")
            i += 2
        elif c == "$":
            parts.append(("q", "".join(buf)))
            buf = []
            i = _lex_var(text, i, parts, quoted=True)
        elif c == "`":
            raise ShellSyntaxError("syntax error: '`' is not supported by the virtual device")
        else:
            buf.append(c)
            i += 1
    raise ShellSyntaxError("syntax error: unterminated quoted string")


def _lex_var(text: str, i: int, parts: list, quoted: bool) -> int:
    kind = "qvar" if quoted else "var"
    rest = text[i + 1:]
    if rest[:1] in ("?", "$", "#", "!") or rest[:1].isdigit():
        parts.append((kind, rest[0]))
        return i + 2
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            raise ShellSyntaxError("syntax error: missing '}'")
        parts.append((kind, rest[1:end]))
        return i + end + 2
    if rest.startswith("("):
        raise ShellSyntaxError("syntax error: '$(' is not supported by the virtual device")
    found = _NAME.match(rest)
    if not found:
        parts.append(("q" if quoted else "lit", "$"))
        return i + 1
    parts.append((kind, found.group(0)))
    return i + 1 + found.end()


# -- parsing -----------------------------------------------------------------------------------
_LOOP_STARTS = ("while", "until", "for")


def parse(tokens: list[tuple]) -> list[tuple[str, list[Command]]]:
    """[(connector, pipeline)]: connector is '', ';', '&&' or '||' (what precedes the pipeline)."""
    items, k, stop = _parse_list(tokens, 0, ())
    if stop is not None:
        raise ShellSyntaxError(f"syntax error: unexpected '{stop}'")
    return items


def _reserved(token: tuple) -> str | None:
    if token[0] != "word" or not all(kind == "lit" for kind, _ in token[1]):
        return None
    word = "".join(text for _, text in token[1])
    return word if word in _RESERVED else None


def _parse_list(tokens: list[tuple], k: int, stops: tuple[str, ...]):
    """Items up to one of the reserved words ``stops`` at a command start: (items, k, stop).

    ``k`` is left on the stop word; stop is None at the end of the input."""
    items: list[tuple[str, list[Command]]] = []
    connector, pipeline, command = "", [], Command()
    while k < len(tokens):
        token = tokens[k]
        word = _reserved(token) if not command.words and command.loop is None else None
        if word in stops and not pipeline:
            break
        if word in _LOOP_STARTS:
            command.loop, k = _parse_loop(tokens, k + 1, word)
            continue
        if word is not None:
            raise ShellSyntaxError(f"syntax error: '{word}' is not supported by the virtual device"
                                   if word not in ("do", "done") else f"syntax error: unexpected '{word}'")
        if token[0] == "word":
            if command.loop is not None:
                raise ShellSyntaxError("syntax error: unexpected word after 'done'")
            command.words.append(token[1])
        elif token[0] == "redir":
            if k + 1 >= len(tokens) or tokens[k + 1][0] != "word":
                raise ShellSyntaxError("syntax error: redirection without a file name")
            command.redirects.append((token[1], token[2], tokens[k + 1][1]))
            k += 1
        elif token[0] == "dup":
            command.redirects.append((token[1], ">&", token[2]))
        else:
            op = token[1]
            if not command.words and not command.redirects and command.loop is None:
                if op in (";", "&") and not pipeline:
                    k += 1
                    continue
                raise ShellSyntaxError(f"syntax error: unexpected '{op}'")
            pipeline.append(command)
            command = Command()
            if op != "|":
                if op == "&":
                    _background(connector, pipeline)
                items.append((connector, pipeline))
                connector, pipeline = (";" if op == "&" else op), []
        k += 1
    else:
        word = None
    if command.words or command.redirects or command.loop is not None:
        pipeline.append(command)
    elif pipeline:
        raise ShellSyntaxError("syntax error: unexpected end of input")
    if pipeline:
        items.append((connector, pipeline))
    return items, k, word


def _background(connector: str, pipeline: list[Command]) -> None:
    if connector in ("&&", "||"):  # sh runs the whole and-or list in the background
        raise ShellSyntaxError(f"syntax error: '{connector} ... &' (an and-or list in the "
                               f"background) is not supported by the virtual device")
    pipeline[-1].background = True


def _parse_loop(tokens: list[tuple], k: int, kind: str) -> tuple[Loop, int]:
    """After ``while``/``until``/``for``: the loop and the index just past its ``done``."""
    loop = Loop(kind)
    if kind == "for":
        if k >= len(tokens) or tokens[k][0] != "word" or \
                not _NAME.fullmatch("".join(t for _, t in tokens[k][1])):
            raise ShellSyntaxError("syntax error: 'for' needs a variable name")
        loop.name = "".join(t for _, t in tokens[k][1])
        k += 1
        if k < len(tokens) and _reserved(tokens[k]) is None and tokens[k][0] == "word" and \
                "".join(t for _, t in tokens[k][1]) == "in":
            k += 1
            while k < len(tokens) and tokens[k][0] == "word":
                loop.words.append(tokens[k][1])
                k += 1
        while k < len(tokens) and tokens[k] == ("op", ";"):
            k += 1
    else:
        loop.condition, k, stop = _parse_list(tokens, k, ("do",))
        if stop != "do" or not loop.condition:
            raise ShellSyntaxError(f"syntax error: '{kind}' without 'do'")
    if k >= len(tokens) or _reserved(tokens[k]) != "do":
        raise ShellSyntaxError(f"syntax error: '{kind}' without 'do'")
    loop.body, k, stop = _parse_list(tokens, k + 1, ("done",))
    if stop != "done":
        raise ShellSyntaxError(f"syntax error: '{kind}' without 'done'")
    if not loop.body:
        raise ShellSyntaxError("syntax error: unexpected 'done'")
    return loop, k + 1
