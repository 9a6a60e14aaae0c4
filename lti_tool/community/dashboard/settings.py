"""Reading and changing a course's early-warning thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from lti_tool.community.dashboard.models import DashboardSettings

# (field, lowest, highest) for every threshold staff may set.
LIMITS: dict[str, tuple[int, int]] = {
    "inactive_days": (1, 365),
    "unanswered_hours": (1, 24 * 30),
    "staff_check_hours": (1, 24 * 30),
    "falling_percent": (1, 100),
    "recognition_weeks": (1, 52),
}


@dataclass(frozen=True)
class Thresholds:
    inactive_days: int = 7
    unanswered_hours: int = 24
    staff_check_hours: int = 48
    falling_percent: int = 50
    recognition_weeks: int = 3


def thresholds(session: Session, course_id: int) -> Thresholds:
    row = session.get(DashboardSettings, course_id)
    if row is None:
        return Thresholds()
    return Thresholds(**{name: getattr(row, name) for name in LIMITS})


class ThresholdError(ValueError):
    def __init__(self, field: str, low: int, high: int) -> None:
        super().__init__(field)
        self.field, self.low, self.high = field, low, high


def save_thresholds(session: Session, course_id: int, values: dict[str, str]) -> Thresholds:
    """Validate every field, then store them all; raises ThresholdError on the first bad one."""
    parsed: dict[str, int] = {}
    for name, (low, high) in LIMITS.items():
        raw = (values.get(name) or "").strip()
        try:
            number = int(raw)
        except ValueError:
            raise ThresholdError(name, low, high) from None
        if not low <= number <= high:
            raise ThresholdError(name, low, high)
        parsed[name] = number
    row = session.get(DashboardSettings, course_id)
    if row is None:
        row = DashboardSettings(course_id=course_id)
        session.add(row)
    for name, number in parsed.items():
        setattr(row, name, number)
    session.commit()
    return Thresholds(**parsed)
