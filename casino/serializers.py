"""Response and request-body serializers whose fields are built once per class.

A DRF serializer deep-copies its declared fields and binds the copies to
itself each time one is made (``Serializer.get_fields``), and so does every
nested serializer and list field inside it: for a response with nested parts
(a spin's win lines and feedback, a claim's reward) that is several hundred
object copies per request: the slot spin's answer took 0.86 ms to render
that way, and takes 0.05 ms as an output serializer. An answer only reads its
fields, so an :class:`OutputSerializer` binds them once, to a bare instance
of its class (no data, no context), and every instance renders with the same
bound fields.

That is safe only for fields that do not reach back to their serializer while
rendering: none may use the context (``SerializerMethodField``, related and
hyperlinked fields, ``HiddenField``) -- the check runs when the fields are
first built and refuses the class -- and the class is for answers only: given
``data=`` it refuses to build its shared fields. The schema (drf-spectacular)
reads the class as any other serializer.

An :class:`InputSerializer` does the same for a request body, the hot
endpoints' (a buy, a spin, a bet): validating only reads the fields too (each
converts and checks a value; the errors and the validated data are kept on
the serializer instance, not on its fields), so a body is validated with the
shared fields -- 0.16 -> 0.03 ms for a buy's body. Refused when first built:
a field whose default or validators read the serializer (``requires_context``:
``CurrentUserDefault``, ``UniqueValidator``) or that is hidden, and a mutable
default (a list or dict every request would share: give ``default=list``); and the class
validates new data only (no ``instance``, no ``partial``: the shared fields
are bound to a bare instance, which is what they would read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.utils.serializer_helpers import BindingDict

# Fields that read their serializer or its context while rendering.
_CONTEXT_BOUND = (
    serializers.SerializerMethodField,
    serializers.RelatedField,
    serializers.ManyRelatedField,
    serializers.HiddenField,
)


def _refuse_context_bound(fields: BindingDict, owner: str) -> None:
    for name, field in fields.items():
        inner = field.child if isinstance(field, serializers.ListSerializer) else field
        if isinstance(inner, _CONTEXT_BOUND):
            raise TypeError(f"{owner}.{name} ({type(inner).__name__}) reads its serializer: not an output field")
        if isinstance(inner, serializers.Serializer):
            _refuse_context_bound(inner.fields, f"{owner}.{name}")


def _shared_fields(serializer: serializers.Serializer, refuse: Callable[[BindingDict, str], None]) -> BindingDict:  # type: ignore[type-arg]
    """The fields of ``serializer``'s class, built and bound once, to a bare
    instance of the class (no request's or answer's data is kept); ``refuse``
    checks them when they are first built."""
    cls = type(serializer)
    built: BindingDict | None = cls.__dict__.get("_shared_fields")
    if built is None:
        built = BindingDict(cls())
        for name, field in serializer.get_fields().items():
            built[name] = field
        refuse(built, cls.__name__)
        cls._shared_fields = built  # type: ignore[attr-defined]
    return built


# A serializer for answers: its fields are built and bound once per class (see the module). No
# docstring: drf-spectacular would give it to every answer's schema that declares none of its own.
class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]  # DRF's classes take no parameters at run time
    @cached_property
    def fields(self) -> BindingDict:
        if hasattr(self, "initial_data"):
            raise TypeError(f"{type(self).__name__} is an OutputSerializer: it renders answers, it does not validate")
        return _shared_fields(self, _refuse_context_bound)

    def to_internal_value(self, data: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is an OutputSerializer: it renders answers, it does not validate")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """DRF's ``Serializer.to_representation``, with a short way for a plain dict (what the
        selectors and services hand the views): a field whose source is one key of it reads
        that key, instead of DRF's attribute look-up (a ``Mapping`` check, a callable check,
        its error handling) for every field of every nested part: the home screen's answer
        renders in half the time (bench/README.md, "Twentieth round"). Whatever that way
        cannot decide (a missing key, a callable value, a dotted or ``*`` source, a field
        with its own ``get_attribute``) takes DRF's path, as does anything that is not a
        plain dict."""
        if type(instance) is not dict:
            return super().to_representation(instance)
        ret: dict[str, Any] = {}
        for name, key, field in _render_plan(self):
            if key is not None:
                value = instance.get(key, _MISSING)
                if value is not _MISSING and not callable(value):
                    ret[name] = None if value is None else field.to_representation(value)
                    continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret


_MISSING = object()
_FIELD_GET_ATTRIBUTE = serializers.Field.get_attribute


def _render_plan(serializer: OutputSerializer) -> tuple[tuple[str, str | None, serializers.Field], ...]:  # type: ignore[type-arg]
    """The readable fields of ``serializer``'s class, each with the one dict key it reads
    (None: DRF's look-up decides), worked out once per class from its shared fields."""
    cls = type(serializer)
    plan: tuple[tuple[str, str | None, serializers.Field], ...] | None = cls.__dict__.get("_render_plan")  # type: ignore[type-arg]
    if plan is None:
        plan = tuple(
            (
                str(field.field_name),
                field.source_attrs[0]
                if len(field.source_attrs) == 1 and type(field).get_attribute is _FIELD_GET_ATTRIBUTE
                else None,
                field,
            )
            for field in serializer.fields.values()
            if not field.write_only
        )
        cls._render_plan = plan  # type: ignore[attr-defined]
    return plan


def _refuse_context_reading(fields: BindingDict, owner: str) -> None:
    for name, field in fields.items():
        inner: Any = field.child if isinstance(field, serializers.ListSerializer) else field
        reads = [inner.default, *inner.validators]
        if isinstance(inner, _CONTEXT_BOUND) or any(getattr(part, "requires_context", False) for part in reads):
            raise TypeError(f"{owner}.{name} ({type(inner).__name__}) reads its serializer: not a shared input field")
        # DRF copies a default per serializer; shared, one request's change to it would stay.
        if isinstance(inner.default, list | dict | set):
            raise TypeError(f"{owner}.{name} has a mutable default: give a callable (default=list) instead")
        if isinstance(inner, serializers.Serializer):
            _refuse_context_reading(inner.fields, f"{owner}.{name}")


# A serializer for request bodies: its fields are built and bound once per class (see the module).
class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]  # DRF's classes take no parameters at run time
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or "instance" in kwargs or kwargs.get("partial"):
            raise TypeError(f"{type(self).__name__} is an InputSerializer: it validates new data only")
        super().__init__(**kwargs)

    @cached_property
    def fields(self) -> BindingDict:
        return _shared_fields(self, _refuse_context_reading)
