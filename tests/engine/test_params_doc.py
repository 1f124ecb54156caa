"""`segflow nodes NODE` text: nested models and unions of models are printed field by field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from segflow.engine.workflow.params_doc import param_lines


class Fixed(BaseModel):
    """A fixed speed."""

    mode: Literal["fixed"]
    speed: float = Field(gt=0, description="Metres per second.")


class Measured(BaseModel):
    mode: Literal["measured"]
    window: int = Field(5, ge=1, le=99, description="Frames averaged.")


class Step(BaseModel):
    name: str = Field(min_length=1, description="Step name.")
    point: tuple[float, float] = Field((0.0, 0.0), description="Where.")


class Demo(BaseModel):
    speed: Annotated[Fixed | Measured, Field(discriminator="mode")] | None = Field(None, description="How fast.")
    steps: list[Step] = Field(min_length=1, description="In order.")
    colour: Literal["red", "blue"] = Field("red", description="Which.")


def test_unions_lists_and_tuples_of_models_are_spelled_out():
    text = "\n".join(param_lines(Demo.model_json_schema()))
    expected = [
        "    speed: one of the mappings below, or null (default null) - How fast.",
        "      mode: fixed - A fixed speed.",
        "        speed: number > 0 (required) - Metres per second.",
        "      mode: measured",
        "        window: integer >= 1 <= 99 (default 5) - Frames averaged.",
        "    steps: a list of mappings with the fields below (items >= 1) (required) - In order.",
        "      name: string length >= 1 (required) - Step name.",
        '      point: [number, number] (default [0.0, 0.0]) - Where.',
        '    colour: "red" | "blue" (default "red") - Which.',
    ]
    for line in expected:
        assert line in text.splitlines(), line
    assert 'mode: "fixed"' not in text  # the tag line says it once
