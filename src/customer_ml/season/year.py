"""The simulated year of `customer-ml season`: its calendar (one step per week, each a Monday
06:00 UTC on the project's clock), the data each week brings, and the scenarios it contains,
each with the date it starts and the reaction expected of the system.

The year is 2025, the last year the generator simulates (customer_ml.data.tables): week 1 loads
the two years of history before it, every later week the rows that became available during the
week before. The scenario knobs (customer_ml.data.knobs) apply to every week's slice alike, so
the slices add up to one consistent history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from customer_ml.data.knobs import Knobs

START = date(2025, 1, 6)  # a Monday: week 1's clock
WEEKS = 52


@dataclass(frozen=True)
class Scenario:
    name: str
    week: int  # the week it starts
    what: str  # what changes in the world
    expected: str  # the reaction expected of the system (checked by season.checks)
    until_week: int | None = None


@dataclass(frozen=True)
class Year:
    weeks: int
    scenarios: tuple[Scenario, ...]
    knobs: Knobs = field(default_factory=Knobs)

    def scenario(self, name: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name), None)

    def clock(self, week: int) -> datetime:
        """The project's clock when week `week` (1-based) is operated."""
        return datetime.combine(START + timedelta(weeks=week - 1), time(6))

    def active(self, name: str, week: int) -> bool:
        s = self.scenario(name)
        return s is not None and s.week <= week <= (s.until_week or s.week)

    def slice_knobs(self, week: int, *, since_week: int | None = None, bad: bool = False) -> Knobs:
        """The knobs of the rows week `week` loads: those available during the week before
        (everything before the year in week 1), or since week `since_week` began (a feed
        catching up); with `bad`, the week's orders file as a faulty feed delivers it (orders
        repeated verbatim, which the loader refuses)."""
        until = START + timedelta(weeks=week - 1)
        first = since_week or week
        event = self.scenario("business_event")
        forced = (
            ("clv", "pricing change: CLV must learn the new margins (ana@example.com)")
            if event and event.week == week
            else None
        )
        return Knobs(
            available_from=None if first == 1 else START + timedelta(weeks=first - 2),
            available_until=until,
            drift_from=self.knobs.drift_from,
            amount_factor=self.knobs.amount_factor,
            concept_shift_from=self.knobs.concept_shift_from,
            duplicate_orders=5 if bad else 0,
            forced_retrain=forced,
        )


def year(weeks: int = WEEKS) -> Year:
    """The full year (52 weeks), or a short season of `weeks` (< 52) with one scenario: a stale
    feed in weeks 3 and 4, the one `make test` runs."""
    if weeks < WEEKS:
        stale = Scenario(
            "stale_feed", 3, "no orders arrive for two weeks (the feed is down)",
            "training suppressed for the freshness SLA, with a stale-feed alert", until_week=4,
        )  # fmt: skip
        return Year(weeks, (stale,))
    shift, drift = date(2025, 4, 7), date(2025, 3, 10)
    scenarios = (
        Scenario("campaigns", 1, "every campaign of the year names no model",
                 "no decision cites a campaign"),
        Scenario("drift", 10, "order amounts x10 from 2025-03-10 (a currency change upstream)",
                 "churn or CLV trains for the drift, naming the drifted amount features"),
        Scenario("concept_shift", 14, "from 2025-04-07 half of the customers stop ordering, "
                 "whatever their history", "churn's sustained degradation fires over matured "
                 "labels, and churn retrains for it"),
        Scenario("business_event", 22, "a pricing change that names CLV only",
                 "CLV trains citing the event; churn and segments do not"),
        Scenario("stale_feed", 27, "no orders arrive for three weeks (the feed is down)",
                 "training suppressed for the freshness SLA, with a stale-feed alert",
                 until_week=29),
        Scenario("bad_load", 34, "the week's orders file arrives with repeated orders",
                 "the load is refused in one line and loads nothing; the good file loads"),
        Scenario("backfill", 40, "a cohort backfill (country DE) of the last closed month",
                 "it runs in its own file, its diff is reviewable, publish says what it opens"),
    )  # fmt: skip
    return Year(WEEKS, scenarios, Knobs(drift_from=drift, amount_factor=10.0,
                                        concept_shift_from=shift))  # fmt: skip
