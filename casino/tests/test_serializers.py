"""casino.serializers.OutputSerializer: fields built once per class, the same
answers as DRF's own serializer, and refused where sharing fields is unsafe."""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework import fields as drf_fields
from rest_framework import serializers

from casino.serializers import InputSerializer, OutputSerializer
from games.api.serializers import SlotSpinSerializer


class Line(OutputSerializer):
    symbol = serializers.CharField()
    positions = serializers.ListField(child=serializers.IntegerField())
    multiplier = serializers.DecimalField(max_digits=8, decimal_places=2)


class Answer(OutputSerializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    ratio = serializers.FloatField()
    label = serializers.CharField(source="name")
    lines = Line(many=True)
    best = Line(allow_null=True)
    extra = serializers.DictField()


def plain(cls: type[serializers.Serializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The same declared fields on DRF's own serializer."""
    return type(f"Plain{cls.__name__}", (serializers.Serializer,), copy.deepcopy(cls._declared_fields))


ANSWERS = [
    {
        "id": 1,
        "at": datetime(2026, 12, 2, 10, 30, tzinfo=UTC),
        "ratio": 1.5,
        "name": "first",
        "lines": [{"symbol": "seven", "positions": [0, 1, 2], "multiplier": Decimal("12.5")}],
        "best": {"symbol": "seven", "positions": [0], "multiplier": Decimal("2")},
        "extra": {"a": 1},
    },
    {"id": 2, "at": datetime(2026, 1, 1, tzinfo=UTC), "ratio": 0, "name": "", "lines": [], "best": None, "extra": {}},
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_an_answer_renders_as_drf_renders_it(answer: dict[str, Any]) -> None:
    assert Answer(answer).data == plain(Answer)(answer).data
    assert Answer([answer, answer], many=True).data == plain(Answer)([answer, answer], many=True).data


class Whole(OutputSerializer):
    plain = serializers.IntegerField()


class Tricky(OutputSerializer):
    """Fields the plain-dict short way must leave to DRF's look-up."""

    plain = serializers.IntegerField()
    defaulted = serializers.IntegerField(default=7)
    optional = serializers.CharField(required=False)
    nullable = serializers.CharField(allow_null=True)
    nested = serializers.CharField(source="inner.name")
    whole = Whole(source="*")
    computed = serializers.IntegerField(source="compute")


class Point:
    """An object, not a dict: DRF reads attributes and calls simple methods."""

    plain = 1
    defaulted = 2
    optional = "o"
    nullable = None
    inner = {"name": "in"}

    def compute(self) -> int:
        return 42


TRICKY = [
    # every key there
    {"plain": 1, "defaulted": 2, "optional": "x", "nullable": "y", "inner": {"name": "n"}, "compute": 5},
    # missing keys: the default, skipped, None
    {"plain": 1, "inner": {"name": "n"}, "compute": 5},
    # a callable value is called, as DRF calls it
    {"plain": 1, "nullable": None, "inner": {"name": "n"}, "compute": lambda: 9},
]


@pytest.mark.parametrize("answer", TRICKY)
def test_what_the_short_way_cannot_decide_renders_as_drf_renders_it(answer: dict[str, Any]) -> None:
    # (the metaclass takes the fields out of the mapping it is given: a copy each)
    def fields() -> dict[str, Any]:
        return copy.deepcopy(Tricky._declared_fields)

    drf = type("PlainTricky", (serializers.Serializer,), fields())
    ours = type("OursTricky", (OutputSerializer,), fields())
    assert ours(answer).data == drf(answer).data
    # a dict subclass and an object take DRF's own path
    assert ours(OrderedDict(answer)).data == drf(OrderedDict(answer)).data
    assert (
        ours(Point()).data
        == drf(Point()).data
        == {
            "plain": 1,
            "defaulted": 2,
            "optional": "o",
            "nullable": None,
            "nested": "in",
            "computed": 42,
            "whole": {"plain": 1},
        }
    )


def test_a_required_key_missing_from_a_dict_fails_as_with_drf() -> None:
    answer = {"defaulted": 2, "inner": {"name": "n"}, "compute": 5}
    with pytest.raises(KeyError, match="plain"):
        Tricky(answer).data  # noqa: B018 - rendering is the property's work


def test_a_plain_dict_is_read_by_its_keys_without_drfs_attribute_look_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DRF's attribute look-up, counted
    calls: list[list[str]] = []
    look_up = drf_fields.get_attribute

    def counted(instance: Any, attrs: list[str]) -> Any:
        calls.append(list(attrs))
        return look_up(instance, attrs)

    monkeypatch.setattr(drf_fields, "get_attribute", counted)

    # When an answer with every key renders, and one missing a key with a default
    Answer(ANSWERS[0]).data  # noqa: B018 - rendering is the property's work
    keyed = list(calls)
    Tricky(TRICKY[1]).data  # noqa: B018

    # Then the keys were read directly; only what the short way cannot decide took the look-up
    assert keyed == []
    # (the missing keys, a dotted source, and the whole dict for a "*" source)
    assert sorted(map(tuple, calls)) == [(), ("defaulted",), ("inner", "name"), ("nullable",), ("optional",)]


def test_the_fields_are_built_once_per_class() -> None:
    first, second = Answer(ANSWERS[0]), Answer(ANSWERS[1])

    assert first.fields is second.fields
    assert first.data != second.data  # the shared fields render each instance's own answer
    assert Line(ANSWERS[0]["best"]).fields is not first.fields


def test_the_slot_spin_answer_renders_as_before() -> None:
    spin = {
        "success": True,
        "round_id": 7,
        "reels": [["7️⃣", "🍒", "🍋"]],
        "symbols": ["seven", "cherry", "lemon"],
        "stops": [3, 11, 5],
        "bet_amount": 100,
        "win_amount": 250,
        "net_change": 150,
        "multiplier": 2.5,
        "is_jackpot": False,
        "win_lines": [
            {
                "symbol": "seven",
                "emoji": "7️⃣",
                "count": 1,
                "positions": [0],
                "multiplier": "2.5",
                "payout": 250,
                "is_jackpot": False,
            }
        ],
        "balance": 1150,
        "currency": "gold",
        "table_version": 3,
        "message": "You won 250!",
        "feedback": {"code": "slot.win", "severity": "success", "message": "You won 250!"},
        "replayed": False,
    }

    assert SlotSpinSerializer(spin).data == plain(SlotSpinSerializer)(spin).data == spin


def test_a_field_that_reads_its_serializer_is_refused() -> None:
    class WithMethod(OutputSerializer):
        name = serializers.SerializerMethodField()

        def get_name(self, obj: Any) -> str:
            return str(self.context.get("who", ""))

    with pytest.raises(TypeError, match="reads its serializer"):
        WithMethod({}).data  # noqa: B018 - rendering builds the fields


def test_such_a_field_nested_in_a_list_is_refused_too() -> None:
    class Inner(serializers.Serializer):  # type: ignore[type-arg]
        user = serializers.HiddenField(default=None)

    class Outer(OutputSerializer):
        items = Inner(many=True)

    with pytest.raises(TypeError, match=r"Outer\.items\.user"):
        Outer({"items": []}).data  # noqa: B018


def test_an_output_serializer_does_not_validate() -> None:
    class Fresh(OutputSerializer):
        count = serializers.IntegerField()

    with pytest.raises(TypeError, match="does not validate"):
        Fresh(data={"count": 1}).is_valid()


# --- InputSerializer ---------------------------------------------------------------------------


class Body(InputSerializer):
    product_id = serializers.CharField(max_length=8)
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    note = serializers.CharField(required=False, allow_blank=True)

    def validate_note(self, value: str) -> str:
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("note") == "refuse":
            raise serializers.ValidationError({"note": ["Refused."]})
        return attrs


BODIES = [
    {"product_id": "gold", "quantity": 3, "tags": ["a", "b"], "note": "  hi "},
    {"product_id": "gold"},
    {"product_id": "far-too-long", "quantity": 0},
    {"quantity": "x", "tags": "no"},
    {"product_id": "gold", "note": "refuse"},
    {},
]


def _verdict(cls: type[serializers.Serializer[Any]], body: dict[str, Any]) -> tuple[bool, Any]:
    serializer = cls(data=body)
    valid = serializer.is_valid()
    return valid, serializer.validated_data if valid else serializer.errors


@pytest.mark.parametrize("body", BODIES)
def test_a_body_validates_as_drf_validates_it(body: dict[str, Any]) -> None:
    twin = type("PlainBody", (serializers.Serializer,), {**copy.deepcopy(Body._declared_fields), **{
        name: getattr(Body, name) for name in ("validate_note", "validate")
    }})  # fmt: skip

    assert _verdict(Body, body) == _verdict(twin, body)


def test_bodies_validated_one_after_another_keep_their_own_data_and_errors() -> None:
    first, second = Body(data=BODIES[0]), Body(data=BODIES[2])

    assert first.fields is second.fields
    assert first.is_valid() and not second.is_valid()
    assert first.validated_data["quantity"] == 3 and "product_id" in second.errors
    assert first.errors == {}


def test_an_input_field_that_reads_its_serializer_is_refused() -> None:
    class WithUser(InputSerializer):
        user = serializers.HiddenField(default=serializers.CurrentUserDefault())

    class WithContextDefault(InputSerializer):
        when = serializers.CharField(default=serializers.CreateOnlyDefault("x"))

    for cls in (WithUser, WithContextDefault):
        with pytest.raises(TypeError, match="reads its serializer"):
            cls(data={}).is_valid()


def test_an_input_field_with_a_mutable_default_is_refused_and_a_callable_one_is_not_shared() -> None:
    class WithList(InputSerializer):
        tags = serializers.ListField(child=serializers.CharField(), default=[])

    class WithFactory(InputSerializer):
        tags = serializers.ListField(child=serializers.CharField(), default=list)

    with pytest.raises(TypeError, match="mutable default"):
        WithList(data={}).is_valid()
    first, second = WithFactory(data={}), WithFactory(data={})
    assert first.is_valid() and second.is_valid()
    first.validated_data["tags"].append("x")
    assert second.validated_data["tags"] == []


def test_an_input_serializer_validates_new_data_only() -> None:
    with pytest.raises(TypeError, match="new data only"):
        Body({"product_id": "gold"})
    with pytest.raises(TypeError, match="new data only"):
        Body(data={"product_id": "gold"}, partial=True)


def _answer_serializers() -> list[tuple[str, serializers.BaseSerializer[Any]]]:
    """Each operation's success answers as drf-spectacular reads them (the views'
    ``extend_schema`` responses), labelled ``METHOD path``."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import spectacular_settings
    from drf_spectacular.utils import OpenApiResponse

    generator = SchemaGenerator()
    generator._initialise_endpoints()
    answers = []
    for path, path_regex, method, view in generator._get_paths_and_endpoints():
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        schema = view.schema
        schema.path, schema.path_regex, schema.path_prefix, schema.method = path, path_regex, "", method
        responses = schema.get_response_serializers()
        for status, answer in responses.items() if isinstance(responses, dict) else [("200", responses)]:
            if isinstance(answer, OpenApiResponse):
                answer = answer.response
            if isinstance(answer, type) and issubclass(answer, serializers.BaseSerializer):
                answer = answer()
            if str(status).startswith("2") and isinstance(answer, serializers.BaseSerializer):
                answers.append((f"{method} {path}", answer))
    return answers


def _plain_parts(answer: Any, where: str) -> list[str]:
    if isinstance(answer, serializers.ListSerializer):
        answer = answer.child
    if not isinstance(answer, serializers.Serializer):
        return []
    found = [] if isinstance(answer, OutputSerializer) else [f"{type(answer).__name__} ({where})"]
    for name, field in answer.fields.items():
        found += _plain_parts(field, f"{where}.{name}")
    return found


@pytest.mark.django_db
def test_every_answer_and_each_of_its_parts_is_an_output_serializer() -> None:
    # Given every operation's success answers, as the schema documents them
    answers = _answer_serializers()
    assert len(answers) > 50

    # When each is walked down to its nested parts
    plain = sorted({part for where, answer in answers for part in _plain_parts(answer, where)})

    # Then none is a plain DRF serializer (its fields deep-copied for every answer, each read
    # through DRF's attribute look-up): a new answer subclasses OutputSerializer
    assert plain == []
