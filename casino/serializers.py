"""Response serializers whose fields are built once per class.

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
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import cached_property
from rest_framework import serializers
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


# A serializer for answers: its fields are built and bound once per class (see the module). No
# docstring: drf-spectacular would give it to every answer's schema that declares none of its own.
class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]  # DRF's classes take no parameters at run time
    @cached_property
    def fields(self) -> BindingDict:
        cls = type(self)
        built: BindingDict | None = cls.__dict__.get("_output_fields")
        if built is None:
            if hasattr(self, "initial_data"):
                raise TypeError(f"{cls.__name__} is an OutputSerializer: it renders answers, it does not validate")
            built = BindingDict(cls())  # bound to a bare instance: no answer's data is kept
            for name, field in self.get_fields().items():
                built[name] = field
            _refuse_context_bound(built, cls.__name__)
            cls._output_fields = built  # type: ignore[attr-defined]
        return built

    def to_internal_value(self, data: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is an OutputSerializer: it renders answers, it does not validate")
