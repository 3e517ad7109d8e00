"""Word lists the generators draw from, so generated data reads like a real construction site."""

from __future__ import annotations

PROJECT_NAMES: tuple[str, ...] = (
    "Riverside Tower",
    "Harbour Bridge Upgrade",
    "Northgate Hospital",
    "Elm Street School",
    "Canal Wharf Offices",
    "Station Quarter",
    "Hillside Data Centre",
    "Kingsway Residences",
    "Airport Terminal 3",
    "Westfield Depot",
    "Marina Hotel",
    "Oakwood Campus",
)

# (display name, email). The emails use reserved example domains: nothing here is a real person.
PEOPLE: tuple[tuple[str, str], ...] = (
    ("Elliot Williams", "e.williams@example.com"),
    ("Priya Nair", "p.nair@example.com"),
    ("Tom Okafor", "t.okafor@example.com"),
    ("Sofia Rossi", "s.rossi@example.com"),
    ("Liam Byrne", "l.byrne@example.org"),
    ("Mei Chen", "m.chen@example.org"),
    ("Jack Thompson", "j.thompson@example.net"),
    ("Amara Mensah", "a.mensah@example.net"),
)

SUBCONTRACTORS: tuple[str, ...] = (
    "",
    "Apex Concrete Ltd",
    "Brightline Electrical",
    "Northern Steel Erectors",
    "ClearFlow Plumbing",
    "Summit Scaffolding",
    "Greenfield Groundworks",
)

TRADES: tuple[str, ...] = (
    "Pour slab",
    "Erect formwork",
    "Fix reinforcement",
    "Install risers",
    "First fix electrics",
    "Second fix electrics",
    "Install windows",
    "Screed floor",
    "Erect steel frame",
    "Install cladding",
    "Commission HVAC",
    "Paint and decorate",
    "Excavate footings",
    "Lay drainage",
    "Fit out toilets",
)

LOCATIONS: tuple[str, ...] = ("", "Level 1", "Level 2", "Level 3", "Roof", "Basement", "Core A")

WBS_PATHS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("1 > 1.1", "Substructure"),
    ("1 > 1.2", "Frame"),
    ("2 > 2.1", "Envelope"),
    ("2 > 2.3", "Roofing"),
    ("3 > 3.1", "Services"),
    ("3 > 3.4", "Fit-out"),
)

PACKAGES: tuple[tuple[str, str], ...] = (
    ("CIV", "Civils"),
    ("STR", "Structure"),
    ("MEP", "Mechanical & Electrical"),
    ("ENV", "Envelope"),
    ("FIT", "Fit-out"),
)

CALENDARS: tuple[tuple[str, int], ...] = (("Five Day", 5), ("Six Day", 6), ("Seven Day", 7))

SHIFTS: tuple[str, ...] = ("day", "day", "day", "night")

LABOUR: tuple[str, ...] = ("Carpenters", "Electricians", "Labourers", "Steel Fixers", "Plumbers")
MATERIALS: tuple[str, ...] = ("Concrete Panels", "Rebar (t)", "Plasterboard", "Glazing Units")
PLANT: tuple[str, ...] = ("100T Excavator", "Tower Crane", "Concrete Pump", "Scissor Lift")

# Delay reason -> its delay category at the start of the log. The event log re-categorises a
# reason now and then, as a user would in Aphex; older status entries keep the old category
# (the vendor says they are not retriggered), which is exactly what a client must cope with.
DELAY_REASONS: tuple[tuple[str, str], ...] = (
    ("Insufficient Resources", "Resources"),
    ("Awaiting Access", "Access"),
    ("Inclement Weather", "Weather"),
    ("Design Change", "Design"),
    ("Late Material Delivery", "Materials"),
    ("Plant Breakdown", "Resources"),
    ("Awaiting Information", "Design"),
)
DELAY_CATEGORIES: tuple[str, ...] = ("Resources", "Access", "Weather", "Design", "Materials")

# Display names of the non-delay status types.
STATUS_NAMES: dict[str, str] = {
    "onSchedule": "On Schedule",
    "completed": "Completed",
    "completedEarly": "Completed Early",
    "shortened": "Duration Shortened",
}

PLAN_COMMENTS: tuple[str, ...] = (
    "Agreed at the weekly coordination meeting",
    "Lookahead updated after site walk",
    "Re-sequenced following design change",
    "Baseline for the month",
    "",
)
