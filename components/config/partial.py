"""What a config that failed validation still says: the parts of it that are valid, as models.

The rules across keys (duplicates, names that must agree) run on this partial config too, so one run
names every problem: a flavor with a bad size still has a name that can clash with another's. Each
field is validated on its own, with the same type (and so the same checks) as in its model; what
fails is left out, and models are built without validation (pydantic's model_construct, which fills
in the defaults). Rules read such a model with `known(model, field)`.
"""

from __future__ import annotations

import types
import typing
from functools import lru_cache
from typing import Annotated, Any, Optional

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

_NOTHING = object()


def known(model: Any, field: str, default: Any = None) -> Any:
    """MODEL.FIELD when it is there (valid), else DEFAULT."""
    return getattr(model, field, default) if model is not None else default


@lru_cache(maxsize=None)
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    field: FieldInfo = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, *field.metadata]) if field.metadata else TypeAdapter(field.annotation)


def _model_of(annotation: Any) -> tuple[Optional[type[BaseModel]], bool]:
    """(the model class inside ANNOTATION, whether it is a list of them)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin is list and args:
        inner, _ = _model_of(args[0])
        return inner, True
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            inner, many = _model_of(arg)
            if inner is not None:
                return inner, many
    return None, False


def salvage(model: type[BaseModel], data: Any) -> Optional[BaseModel]:
    """A MODEL of the fields of DATA that validate (recursively), None when DATA is no mapping."""
    if not isinstance(data, dict):
        return None
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias if field.alias in data else name
        if key not in data:
            continue
        value = _field(model, name, field, data[key])
        if value is not _NOTHING:
            values[name] = value
    return model.model_construct(**values)


def _field(model: type[BaseModel], name: str, field: FieldInfo, raw: Any) -> Any:
    try:
        return _adapter(model, name).validate_python(raw)
    except ValidationError:
        pass
    inner, many = _model_of(field.annotation)
    if inner is None:
        return _NOTHING
    if many:
        return [salvage(inner, item) for item in raw] if isinstance(raw, list) else _NOTHING
    return salvage(inner, raw)
