"""Strict typing for incoming messages: each field of an LSP structure takes its JSON type and nothing else.

cattrs coerces: `{"text": null}` became the text "None", `"1"` a line number, `42` a URI. With `strict_types`
a message with a wrong type is refused whole before any handler runs (protocol.py answers -32602 to a request
and drops a notification with one log line), and `what_was_wrong` says where without quoting values (they may
hold source code).
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any, Optional, Union, get_args, get_origin

import attrs
import cattrs
import cattrs.gen
from cattrs.cols import is_sequence
from lsprotocol import types

def _strict(kind_name: str, accepts):
    def structure(value: Any, kind: type) -> Any:
        if not accepts(value):
            raise TypeError(f"expected {kind_name}")
        if kind in (int, float):
            return kind(value)
        return value if kind in (str, bool) else kind(value)  # an enum of that base type: its member, or ValueError

    return structure


def _is_int(value: Any) -> bool:
    # JSON has one number type: 3.0 is the integer 3 (JS clients never send it; a C++ serializer might).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strict_union(members: tuple):
    """Unions of JSON scalars (an id: integer | string; a token; null): the value's own type must be a member."""
    def structure(value: Any, kind: Any) -> Any:
        for member in members:
            if member is type(None) and value is None:
                return None
            if member is int and _is_int(value):
                return int(value)
            if member is str and isinstance(value, str) or member is bool and isinstance(value, bool):
                return value
        raise TypeError("expected " + " or ".join(getattr(m, "__name__", str(m)) for m in members))

    return structure


def _strict_sequence(converter: cattrs.Converter):
    """Arrays must be JSON arrays: cattrs would take a string as a sequence of its characters."""
    def factory(kind: Any):
        args, origin = get_args(kind), get_origin(kind) or kind
        if origin is tuple and args and args[-1] is not Ellipsis:
            def fixed(value: Any, _: Any) -> tuple:
                if not isinstance(value, list) or len(value) != len(args):
                    raise TypeError(f"expected an array of {len(args)}")
                return tuple(converter.structure(item, arg) for item, arg in zip(value, args))

            return fixed
        item_kind = args[0] if args else Any
        make = list if origin in (list, MutableSequence) else tuple

        def array(value: Any, _: Any):
            if not isinstance(value, list):
                raise TypeError("expected an array")
            return make(converter.structure(item, item_kind) for item in value)

        return array

    return factory


def _strict_objects(converter: cattrs.Converter):
    """LSP structures must be JSON objects: cattrs built a structure whose members are all optional from any
    value (`"change": "x"` read as an empty change). Same names as lsprotocol's own hook (camelCase)."""
    def factory(cls: type):
        renames = {a.name: cattrs.gen.override(rename=_camel_case(a.name)) for a in attrs.fields(cls)}
        structure_fields = cattrs.gen.make_dict_structure_fn(cls, converter, **renames)

        def structure(value: Any, kind: type) -> Any:
            if not isinstance(value, dict):
                raise TypeError("expected an object")
            return structure_fields(value, kind)

        return structure

    return factory


def _camel_case(name: str) -> str:
    parts = name.rstrip("_").split("_")  # lsprotocol appends _ to names that are Python keywords (from_)
    return parts[0] + "".join(p.title() for p in parts[1:])


def _language(value: Any, _: Any) -> str:
    """A language id is a string (lsprotocol took any value); kept a plain str, as lsprotocol keeps it: the
    prompt writes it out, and a `LanguageKind` member would print as its enum name."""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def strict_types(converter: cattrs.Converter) -> cattrs.Converter:
    """Make `converter` refuse a value of the wrong JSON type instead of coercing it (str(None) == "None")."""
    converter.register_structure_hook_factory(attrs.has, _strict_objects(converter))
    converter.register_structure_hook(Union[types.LanguageKind, str], _language)
    converter.register_structure_hook(str, _strict("a string", lambda v: isinstance(v, str)))
    converter.register_structure_hook(int, _strict("an integer", _is_int))
    converter.register_structure_hook(float, _strict("a number", _is_number))
    converter.register_structure_hook(bool, _strict("true or false", lambda v: isinstance(v, bool)))
    for union in (Union[int, str], Optional[Union[int, str]], Optional[Union[str, bool]]):
        converter.register_structure_hook(union, _strict_union(get_args(union)))
    converter.register_structure_hook_factory(is_sequence, _strict_sequence(converter))
    return converter


def what_was_wrong(error: Exception) -> str:
    """Where a message failed to structure, without the values (they may hold source code)."""
    try:
        found = cattrs.transform_error(error)
    except Exception:
        found = []
    return "; ".join(found[:3]) if found else type(error).__name__
