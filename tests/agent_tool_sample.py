"""A user tool registered the documented way (docs/agents.md), for the agent tests."""

from __future__ import annotations

from pydantic import BaseModel, Field

from activities.agent_tools import agent_tool


class Conversion(BaseModel):
    """Arguments of `convert_units`."""

    value: float = Field(description="The amount to convert.")
    unit: str = Field(description="`km` or `mi`.")


@agent_tool(queue="genai-io")
def convert_units(args: Conversion) -> dict[str, float | str]:
    """Convert a distance between kilometres and miles."""
    factor = 0.621371 if args.unit == "km" else 1 / 0.621371
    return {"value": round(args.value * factor, 3), "unit": "mi" if args.unit == "km" else "km", "marker": "ZX-42"}


@agent_tool
async def shout(text: str, times: int = 1) -> str:
    """Return the text upper-cased, repeated `times` times."""
    return " ".join([text.upper()] * times)
